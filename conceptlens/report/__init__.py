"""The shareable report of a run: HTML (self-contained) and PDF (weasyprint).

Modules, one job each:

- :mod:`~conceptlens.report.inputs`: parse result paths, read and validate the run's files;
- :mod:`~conceptlens.report.selection`: choose the neurons of the qualitative grids
  (``report/neurons.json``);
- :mod:`~conceptlens.report.formatting`: how numbers are printed (one place);
- :mod:`~conceptlens.report.tables`: table models (cells, bold best, standard errors);
- :mod:`~conceptlens.report.figures`: image strips, boxes, overlays, PNG data URIs;
- :mod:`~conceptlens.report.sections`: the report's sections from the inputs;
- :mod:`~conceptlens.report.render`: jinja2 -> HTML, weasyprint -> PDF, atomic writes.
"""

from __future__ import annotations

REPORT_INPUT_KEYS = (
    "table1", "ablation", "per_neuron", "ground_truth", "descriptions", "neurons", "topk",
    "boxes", "split", "stability_table", "stability_png", "stability_svg", "localisation",
    "neuron_maps", "benchmarks",
)
"""Named inputs of the ``report`` rule; every value is a (possibly empty) list of paths."""
