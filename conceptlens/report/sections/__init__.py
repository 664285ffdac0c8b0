"""The report's sections, built from the run's files: plain data for the template.

One builder a section, each taking what it shows and returning a
:class:`~conceptlens.report.sections.model.Section`, or None when the run did not make its
inputs: :mod:`.summary`, :mod:`.metrics` (Table 1, the ablation), :mod:`.stability`,
:mod:`.evidence`, :mod:`.neurons` (the grids), :mod:`.crops`, :mod:`.localisation`, :mod:`.descriptions`.
:func:`build_report` reads the inputs (:mod:`conceptlens.io`) and calls the builders in
the report's order; tables, figures and sections are numbered in the order they appear.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conceptlens.io.convis import read_localisation, read_missing_maps, read_neuron_maps
from conceptlens.io.descriptions import load_descriptions
from conceptlens.io.evidence import (
    load_evidence,
    load_evidence_check,
    load_evidence_summary,
    read_evidence_files,
)
from conceptlens.io.ground_truth import load_ground_truth
from conceptlens.io.metrics import read_claims, read_metric_tables
from conceptlens.io.neurons import read_neurons
from conceptlens.io.paths import parse_result_path
from conceptlens.io.probe import ProbeImages
from conceptlens.io.stability import read_stability_table
from conceptlens.io.topk import load_topk
from conceptlens.io.views import load_boxes
from conceptlens.report import figures
from conceptlens.report.inputs import by_view_and_layer, one_path, read_benchmarks
from conceptlens.report.sections.crops import crops_section
from conceptlens.report.sections.descriptions import (
    config_order,
    descriptions_section,
    method_order,
)
from conceptlens.report.sections.evidence import evidence_section
from conceptlens.report.sections.localisation import localisation_section
from conceptlens.report.sections.metrics import (
    ablation_section,
    claims_section,
    table1_section,
)
from conceptlens.report.sections.model import Figure, Section, numbered
from conceptlens.report.sections.neurons import DEFAULT_GRID_METHODS, neurons_section
from conceptlens.report.sections.stability import stability_section
from conceptlens.report.sections.summary import summary_section

__all__ = ["Figure", "Section", "build_report"]

PER_NEURON_COLUMNS = ("method", "layer", "unit", "hit", "f1", "clip_cos")


def _read_one(inputs: Mapping[str, Sequence[str]], key: str, reader: Callable) -> Any:
    """``reader`` of the single path of an optional input; None when there is none."""
    path = one_path(inputs.get(key, []), key)
    return reader(path) if path else None


def build_report(inputs: Mapping[str, Sequence[str]], settings: Mapping,
                 date: str | None = None) -> dict:
    """The template context of the report.

    inputs: the report rule's named inputs as lists of paths (REPORT_INPUT_KEYS);
    settings: run, title, config, published, published_stability, grid_methods, top_images,
    figure4_images, pdf_description_rows. The template's ``pdf`` flag (False here) picks
    each section's ``pdf_tables`` over its ``tables`` when set.
    """
    config = settings.get("config") or {}
    date = date or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    published = settings.get("published") or {}
    top_images = int(settings.get("top_images", 8))
    probe = _read_one(inputs, "split", ProbeImages)
    sections = [summary_section(config, settings, probe,
                                read_benchmarks(inputs.get("benchmarks", [])), date)]
    per_neuron = read_metric_tables(inputs.get("per_neuron", []), PER_NEURON_COLUMNS)
    if len(per_neuron):
        per_neuron = per_neuron.assign(layer=per_neuron["layer"].astype(str))
    sections.append(table1_section(read_metric_tables(inputs.get("table1", [])), published))
    sections.append(ablation_section(read_metric_tables(inputs.get("ablation", [])),
                                     published))
    sections.append(claims_section(_read_one(inputs, "claims", read_claims)))
    evidence = read_evidence_files(inputs.get("evidence", []), load_evidence)
    sections.append(evidence_section(
        read_evidence_files(inputs.get("evidence_summary", []), load_evidence_summary),
        read_evidence_files(inputs.get("evidence_check", []), load_evidence_check),
        **{key: value for key, value in (config.get("evidence") or {}).items()
           if key in ("contrast_fraction", "significance")}))
    sections.append(stability_section(
        _read_one(inputs, "stability_table", read_stability_table),
        one_path(inputs.get("stability_png", []), "stability_png"),
        settings.get("published_stability") or {}))
    descriptions = config_order(load_descriptions(inputs.get("descriptions", [])), config)
    ground_truth = load_ground_truth(one_path(inputs.get("ground_truth", []), "ground_truth"),
                                     synonym_lists=True)
    neurons_path = one_path(inputs.get("neurons", []), "neurons")
    boxes = {str(parse_result_path(p).view): load_boxes(p) for p in inputs.get("boxes", [])}
    if neurons_path and probe is not None:
        doc = read_neurons(neurons_path)
        topk = {key: load_topk(p)[0]
                for key, p in by_view_and_layer(inputs.get("topk", [])).items()}
        maps = _read_one(inputs, "neuron_maps", read_neuron_maps) or {}
        missing = _read_one(inputs, "neuron_maps", read_missing_maps)
        sections.append(neurons_section(
            doc, probe, topk, boxes, maps, descriptions, ground_truth, per_neuron,
            settings.get("grid_methods") or DEFAULT_GRID_METHODS, top_images, evidence,
            missing))
    sections.append(crops_section(probe, boxes, int(settings.get("figure4_images", 6))))
    sections.append(localisation_section(_read_one(inputs, "localisation", read_localisation)))
    sections.append(descriptions_section(descriptions, ground_truth, per_neuron,
                                         settings.get("pdf_description_rows", 40), evidence,
                                         method_order(descriptions, config)))

    return {"title": settings.get("title") or "conceptlens report",
            "run": settings.get("run", config.get("run", "")), "date": date, "pdf": False,
            "sections": numbered([s for s in sections if s is not None]), "box_colors": {
                k: "#{:02x}{:02x}{:02x}".format(*v) for k, v in figures.BOX_COLORS.items()},
            "colorbar": figures.png_data_uri(figures.colorbar()),
            "top_images": top_images}
