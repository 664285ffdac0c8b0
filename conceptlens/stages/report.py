"""Report stages: the neurons of the report's grids (rule ``report_neurons``) and the
rendered report (rule ``report``).

Torch-free: both read the run's files through :mod:`conceptlens.io` only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from conceptlens.io.atomic import PathLike
from conceptlens.io.descriptions import load_descriptions
from conceptlens.io.evidence import load_evidence
from conceptlens.io.metrics import load_per_neuron
from conceptlens.io.paths import parse_result_path
from conceptlens.io.topk import load_topk
from conceptlens.report.inputs import as_paths
from conceptlens.report.selection import neuron_records, neurons_document, select_neurons

LOG = logging.getLogger("conceptlens.stages.report")
QUIET_LOGGERS = ("weasyprint", "fontTools")
"""Libraries whose per-step INFO lines the report log leaves out (warnings are kept)."""


def choose_report_neurons(per_neuron: PathLike, descriptions: Sequence[PathLike],
                          topk: Sequence[PathLike], *, layers: Sequence[str], method: str,
                          view: str, concept_set: str, choose: Mapping[str, int],
                          top_images: int, seed: int, evidence: PathLike | None = None,
                          log: logging.Logger = LOG) -> dict:
    """The ``report/neurons.json`` document: per layer, ``choose`` neurons of ``method``
    (best, worst, random by per-neuron F1 in ``per_neuron``, the concept set's
    ``per_neuron.parquet``; in a layer without ground truth, by the ``evidence`` table's
    contrast AUC), each with its top concept (``descriptions`` of ``method`` on
    ``concept_set``; other paths are ignored) and its first ``top_images`` top images
    under ``view`` (``topk`` files; other views are ignored)."""
    table = load_per_neuron(per_neuron)
    described = load_descriptions(
        [f for f in as_paths(descriptions)
         if parse_result_path(f).method == method
         and parse_result_path(f).concept_set == concept_set])
    top_concepts = {(str(layer), int(unit)): str(concept) for layer, unit, concept
                    in described[["layer", "unit", "concept"]].itertuples(index=False)}
    top = {}
    for path in as_paths(topk):
        where = parse_result_path(path)
        if where.view == view:
            top[str(where.layer)] = load_topk(path)[0]
    evidence_table = load_evidence(evidence) if evidence else None
    selected = select_neurons(table, method, list(layers), dict(choose), int(seed),
                              evidence_table)
    for layer in layers:
        rows = selected[selected["layer"] == layer]
        log.info("layer %s: %d neurons chosen (by %s)", layer, len(rows),
                 rows["ranked_by"].iloc[0] if len(rows) else "-")
    records = neuron_records(selected, top_concepts, top, int(top_images))
    return neurons_document(concept_set, method, view, records)


def render_run_report(inputs: Mapping[str, Sequence[str]], settings: Mapping,
                      html_path: PathLike, pdf_path: PathLike, log: logging.Logger = LOG
                      ) -> dict[str, float]:
    """Render ``html_path`` and ``pdf_path`` (:func:`conceptlens.report.render.render_report`;
    the rendered report is this stage's output, so it writes both files).

    inputs: the report rule's named inputs as lists of paths; the benchmark files are found
    under ``settings["benchmarks_dir"]`` when set (they are no rule's outputs, so the rule
    cannot declare them). Returns the seconds of each step and the files' bytes."""
    from conceptlens.report.render import render_report

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    inputs = {key: list(paths) for key, paths in inputs.items()}
    settings = dict(settings)
    if settings.get("benchmarks_dir"):
        found = Path(settings["benchmarks_dir"]).rglob("*.tsv")
        inputs["benchmarks"] = sorted(str(f) for f in found)
    for key, paths in inputs.items():
        log.info("input %s: %d file(s)", key, len(paths))
    stats = render_report(inputs, settings, html_path, pdf_path)
    log.info("report: build %.1f s, HTML %.1f s (%.1f MB), PDF %.1f s (%.1f MB)",
             stats["build_s"], stats["html_s"], stats["html_bytes"] / 1e6, stats["pdf_s"],
             stats["pdf_bytes"] / 1e6)
    return stats
