"""The shareable report of a run: HTML (self-contained) and PDF (weasyprint).

Modules, one job each (the run's files are read through :mod:`conceptlens.io`):

- :mod:`~conceptlens.report.inputs`: the report rule's inputs as lists of paths, a
  finished run's inputs found on disk, Snakemake's benchmark files;
- :mod:`~conceptlens.report.selection`: choose the neurons of the qualitative grids
  (``report/neurons.json``);
- :mod:`~conceptlens.report.formatting`: how numbers are printed (one place);
- :mod:`~conceptlens.report.table_models`: table models (cells, bold best, standard errors);
- :mod:`~conceptlens.report.figures`: image strips, boxes, overlays, PNG data URIs;
- :mod:`~conceptlens.report.sections`: one builder a section, and
  :func:`~conceptlens.report.sections.build_report`, the template context from the inputs;
- :mod:`~conceptlens.report.render`: jinja2 -> HTML, weasyprint -> PDF, atomic writes.
"""

from __future__ import annotations

REPORT_INPUT_KEYS = (
    "table1", "ablation", "per_neuron", "ground_truth", "descriptions", "neurons", "topk",
    "boxes", "split", "stability_table", "stability_png", "stability_svg", "localisation",
    "neuron_maps", "benchmarks", "evidence", "evidence_summary", "evidence_check", "claims",
)
"""Named inputs of the ``report`` rule; every value is a (possibly empty) list of paths."""
