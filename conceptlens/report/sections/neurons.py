"""The neurons section: one figure per layer, one panel per neuron of
``report/neurons.json``: its top images under each view (with the view's crop box), the
ConVis maps of its concept, and beside them its ground truth and each grid method's
concepts (hit or miss)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from conceptlens.io.probe import ProbeImages
from conceptlens.metrics import normalize_concept
from conceptlens.report import figures
from conceptlens.report.formatting import MISSING, format_metric
from conceptlens.report.sections.model import Figure, Section

VIEW_LABELS = {"full": "Full image", "center": "Centre crop", "gradcam": "Grad-CAM crop"}
VIEW_ORDER = ("full", "center", "gradcam")
DEFAULT_GRID_METHODS = {"WWW": "www", "Grad-CAM + t-vMF": "gradcam_tvmf",
                        "CLIP-Dissect (soft-WPMI)": "soft_wpmi"}
NO_REASON = "not in convis/neuron_maps.npz (its log, logs/convis/neuron_maps.log, says why)"
"""The note of a neuron without maps in a maps file that records no reason (an older one)."""
CONCEPTS_SHOWN = 4
"""Concepts listed per method in a neuron's side panel (the rest as "+n more")."""


@dataclass
class ConceptMark:
    concept: str
    hit: bool | None  # None: the neuron has no ground truth


@dataclass
class MethodConcepts:
    label: str
    method: str
    concepts: list[ConceptMark]
    more: int = 0


@dataclass
class GridRow:
    """A strip of images (``uri``), or, without one, a ``note`` saying why (a ConVis map
    that could not be drawn)."""

    label: str
    uri: str
    note: str = ""


@dataclass
class NeuronPanel:
    """One neuron of a grid: image rows (one per view, then ConVis) and the side panel."""

    layer: str
    unit: int
    reason: str
    score: str
    ground_truth: str
    ground_truth_detail: str
    rows: list[GridRow]
    methods: list[MethodConcepts]


def concept_marks(concepts: Sequence[str], synonyms: Sequence[str] | None,
                  shown: int = CONCEPTS_SHOWN) -> tuple[list[ConceptMark], int]:
    """The first ``shown`` concepts, each a hit (matches a synonym, case-insensitive), a
    miss, or None without ground truth; and how many more there are."""
    truth = None if synonyms is None else {normalize_concept(s) for s in synonyms}
    marks = [ConceptMark(c, None if truth is None else normalize_concept(c) in truth)
             for c in concepts[:shown]]
    return marks, max(0, len(concepts) - shown)


def image_row(probe: ProbeImages, image_ids: Sequence[int], boxes: np.ndarray | None,
              color: tuple[int, int, int]) -> str:
    """A strip of images (each fitted to the grid size, with its crop box) as a data URI."""
    thumbs = []
    for i in image_ids:
        thumb, scale = figures.fit(probe[int(i)])
        if boxes is not None:
            thumb = figures.draw_box(thumb, boxes[int(i)], scale, color)
        thumbs.append(thumb)
    return figures.png_data_uri(figures.hstack(thumbs))


def map_row(probe: ProbeImages, image_ids: Sequence[int], maps: Mapping) -> str:
    """A strip of ConVis maps blended over their images, as a data URI."""
    thumbs = []
    for i in image_ids:
        thumb, _ = figures.fit(probe[int(i)])
        thumbs.append(figures.overlay(thumb, maps[int(i)]))
    return figures.png_data_uri(figures.hstack(thumbs))


def neuron_panels(doc: Mapping, probe: ProbeImages, topk: Mapping[tuple[str, str], np.ndarray],
                  boxes: Mapping[str, np.ndarray], maps: Mapping[tuple[str, int, int], np.ndarray],
                  descriptions: pd.DataFrame, ground_truth: pd.DataFrame,
                  per_neuron: pd.DataFrame, grid_methods: Mapping[str, str], top_images: int,
                  missing: Mapping[tuple[str, int], str] | None = None) -> list[NeuronPanel]:
    """Panels of the neurons of report/neurons.json, in its order.  With ``missing``
    (the reasons of the maps file by (layer, unit); None: the run made no ConVis maps), a
    neuron without maps gets a ConVis row that says why."""
    cs, method = doc["concept_set"], doc["method"]
    desc = descriptions[descriptions["concept_set"] == cs]
    desc_map = {(m, str(layer), int(unit)): list(concepts) for m, layer, unit, concepts
                in desc[["method", "layer", "unit", "concepts"]].itertuples(index=False)}
    gt_map = {(str(r.layer), int(r.unit)): r for r in ground_truth.itertuples(index=False)}
    per = per_neuron
    if len(per):
        per = per[(per["concept_set"] == cs) & (per["method"] == method)]
    per_map = {(str(r.layer), int(r.unit)): r for r in per.itertuples(index=False)}
    panels = []
    for neuron in doc["neurons"]:
        layer, unit = str(neuron["layer"]), int(neuron["unit"])
        rows = []
        for view in sorted({v for v, lay in topk if lay == layer},
                           key=lambda v: (VIEW_ORDER.index(v) if v in VIEW_ORDER else 99, v)):
            ids = topk[(view, layer)][unit, :top_images]
            box = boxes.get(view) if view != "full" else None
            rows.append(GridRow(VIEW_LABELS.get(view, view),
                                image_row(probe, ids, box, figures.BOX_COLORS.get(view,
                                                                                  (255, 255, 255)))))
        ids = [int(i) for i in neuron["image_ids"][:top_images]]
        found = {i: maps[(layer, unit, i)] for i in ids if (layer, unit, i) in maps}
        if found:
            rows.append(GridRow(f"ConVis: {neuron['concept']}",
                                map_row(probe, [i for i in ids if i in found], found)))
        elif missing is not None:
            reason = missing.get((layer, unit), NO_REASON)
            rows.append(GridRow(f"ConVis: {neuron['concept']}", "",
                                f"no ConVis map: {reason}"))
        gt = gt_map.get((layer, unit))
        synonyms = None if gt is None else list(gt.synonyms)
        methods = []
        for label, m in grid_methods.items():
            if (m, layer, unit) in desc_map:
                marks, more = concept_marks(desc_map[(m, layer, unit)], synonyms)
                methods.append(MethodConcepts(label, m, marks, more))
        score = per_map.get((layer, unit))
        score_text = "" if score is None else (
            f"{method}: F1 {format_metric(score.f1, 'f1')} %, "
            f"CLIP cos {format_metric(score.clip_cos, 'clip_cos')} %")
        detail = ""
        if gt is not None:
            extra = [s for s in synonyms if s != gt.concept]
            detail = "; ".join(part for part in (
                f"synonyms: {', '.join(extra)}" if extra else "",
                f"{gt.attribute}" if isinstance(getattr(gt, "attribute", None), str) else "",
                f"AUROC {float(gt.auroc):.3f}" if getattr(gt, "auroc", None) is not None
                and np.isfinite(gt.auroc) else "") if part)
        panels.append(NeuronPanel(layer, unit, str(neuron["reason"]), score_text,
                                  MISSING if gt is None else str(gt.concept), detail, rows,
                                  methods))
    return panels


def grid_caption(layer: str, doc: Mapping, top_images: int, with_maps: bool) -> str:
    text = (f"Neurons of layer {layer}. Each row shows a neuron's top {top_images} images "
            "under each view, with the view's crop box (orange: centre, cyan: Grad-CAM)")
    if with_maps:
        text += (f", and the ConVis map of {doc['method']}'s top concept over the top "
                 f"images of the {doc['view']} view (bright = concept present)")
    return text + ". Right: the ground truth and the concepts found by each method (✓ hit, ✗ miss)."


def neurons_section(doc: Mapping, probe: ProbeImages,
                    topk: Mapping[tuple[str, str], np.ndarray], boxes: Mapping[str, np.ndarray],
                    maps: Mapping[tuple[str, int, int], np.ndarray],
                    descriptions: pd.DataFrame, ground_truth: pd.DataFrame,
                    per_neuron: pd.DataFrame, grid_methods: Mapping[str, str], top_images: int,
                    evidence: pd.DataFrame | None = None,
                    missing: Mapping[tuple[str, int], str] | None = None) -> Section | None:
    """One figure per layer of the neurons of ``doc`` (``report/neurons.json``): ``topk``
    by (view, layer), ``boxes`` by view, ConVis ``maps`` by (layer, unit, image_id); None
    when ``doc`` has no neurons.  The text says how each layer's neurons were ranked
    (F1 against the ground truth, or the ``evidence``'s held-out simulation), and, when
    ``missing`` is None, that the run made no ConVis maps; with ``missing`` (the maps
    file's reasons by (layer, unit)) a neuron without maps says why in its grid."""
    panels = neuron_panels(doc, probe, topk, boxes, maps, descriptions, ground_truth,
                           per_neuron, grid_methods, top_images, missing)
    section = Section("neurons", "Neurons and their top images")
    by = {n["layer"]: n.get("ranked_by", "ground truth") for n in doc["neurons"]}
    basis = {"ground truth": "per-neuron F1 against the ground truth",
             "evidence": "contrast AUC (the evidence section; no ground truth)"}
    ranked = "; ".join(f"{', '.join(layer for layer, b in by.items() if b == key)}: by {text}"
                       for key, text in basis.items() if key in by.values())
    section.text = (f"Neurons chosen by {doc['method']}'s descriptions on concept set "
                    f"{doc['concept_set']} ({ranked}): best, worst and a seeded random "
                    "sample.")
    if missing is None:
        section.text += " This run made no ConVis maps (convis/neuron_maps.npz)."
    for layer in dict.fromkeys(p.layer for p in panels):
        section.figures.append(Figure(
            f"neurons_{layer}", grid_caption(layer, doc, top_images, missing is not None),
            panels=[p for p in panels if p.layer == layer]))
    return section if section.figures else None
