"""The report's sections, built from the run's files: plain data for the template.

:func:`build_report` returns the template context; a section whose inputs the run does not
produce is absent (None or empty), and tables, figures and sections are numbered in the
order they appear.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from conceptlens.metrics import normalize_concept
from conceptlens.report import figures, tables
from conceptlens.report.formatting import (
    MISSING,
    format_count,
    format_metric,
    format_seconds,
)
from conceptlens.report.inputs import (
    ProbeImages,
    by_view_and_layer,
    one_path,
    parse_result_path,
    read_benchmarks,
    read_boxes,
    read_descriptions,
    read_ground_truth,
    read_localisation,
    read_metric_tables,
    read_neuron_maps,
    read_neurons_json,
    read_stability_table,
    read_topk,
)

VIEW_LABELS = {"full": "Full image", "center": "Centre crop", "gradcam": "Grad-CAM crop"}
VIEW_ORDER = ("full", "center", "gradcam")
DEFAULT_GRID_METHODS = {"WWW": "www", "Grad-CAM + t-vMF": "gradcam_tvmf",
                        "CLIP-Dissect": "soft_wpmi"}
SOFTWARE = ("conceptlens", "torch", "torchvision", "open_clip_torch", "grad-cam", "snakemake",
            "numpy", "pandas", "sentence-transformers", "matplotlib", "jinja2", "weasyprint")
CONCEPTS_SHOWN = 4
"""Concepts listed per method in a neuron's side panel (the rest as "+n more")."""


@dataclass
class Figure:
    """A numbered figure: one image (``uri``) or structured content rendered by the
    template (``panels`` / ``rows``); ``caption`` printed after "Figure N:"."""

    key: str
    caption: str
    uri: str = ""
    panels: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    number: int = 0


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
    label: str
    uri: str


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


@dataclass
class CropRow:
    """One probe image of the centre-versus-Grad-CAM figure."""

    image_id: int
    label: str
    image: str
    center: str
    gradcam: str
    coverage: str


@dataclass
class Section:
    key: str
    title: str
    number: int = 0
    tables: list[tables.Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    pdf_tables: list[tables.Table] = field(default_factory=list)
    """Tables the PDF prints instead of ``tables`` (e.g. the first description rows)."""


# ----------------------------------------------------------------------------- summary


def software_versions(packages: Sequence[str] = SOFTWARE) -> list[tuple[str, str]]:
    """(name, version) of Python and each installed package ("not installed" otherwise)."""
    out = [("Python", platform.python_version())]
    for name in packages:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def describe_target(config: Mapping) -> str:
    """The target model in words: the world target, or a torchvision / timm model by name
    and weights, or a local checkpoint."""
    target = config.get("target")
    if isinstance(target, str):
        return target
    target = dict(target or {})
    source = target.get("source", "world")
    if source == "world":
        models = config.get("world_models", {})
        how = models.get("source", "shipped")
        where = target.get("path") or (
            f"{models.get('shipped_dir', 'resources/world')}/target.pt" if how == "shipped"
            else f"results/{config.get('run', '<run>')}/models/target.pt (trained by this run)")
        return f"world target: ResNet-18 shape classifier ({how} checkpoint {where})"
    if source == "checkpoint":
        text = (f"{target.get('architecture', 'torchvision')} {target.get('name')} from "
                f"checkpoint {target.get('path')}")
    else:
        weights = target.get("weights")
        text = (f"{source} {target.get('name')}, "
                + (f"weights {weights}" if weights not in (None, "", "none")
                   else "random weights"))
    if target.get("input_size"):
        text += f", input {target['input_size']} px"
    if target.get("class_names"):
        text += f", class names from {target['class_names']}"
    return text


PROBE_SOURCES = {"imagenet": "ImageNet val", "broden": "Broden", "folder": "image folder"}


def describe_probe(config: Mapping, probe: ProbeImages | None) -> str:
    """The probe set in words: the world split (size and image side from the split itself
    when given), or a real set's source, folder and labels."""
    probe_cfg = config.get("probe")
    probe_cfg = dict(probe_cfg) if isinstance(probe_cfg, Mapping) else {"source": "world"}
    source = probe_cfg.get("source", "world")
    if source != "world":
        text = f"{PROBE_SOURCES.get(source, source)} at {probe_cfg.get('path')}"
        if probe_cfg.get("labels"):
            text += f" (labels: {probe_cfg['labels']})"
        if probe_cfg.get("limit"):
            text += f", first {format_count(probe_cfg['limit'])} images"
        return f"{format_count(len(probe))} images; {text}" if probe is not None else text
    world = config.get("world", {})
    text = (f"synthetic world probe split (seed {world.get('probe_seed', MISSING)}, "
            f"distractor near the centre with probability "
            f"{world.get('central_distractor_probability', MISSING)})")
    if probe is not None and len(probe):
        h, w = probe[int(probe.attributes.index[0])].shape[:2]
        text = f"{format_count(len(probe))} images of {w} × {h} px; {text}"
    return text


def describe_views(config: Mapping, image_side: int | None) -> str:
    """The crop views: centre fraction (and pixels), Grad-CAM window, layer and class."""
    views = config.get("views", {})
    frac = views.get("center_fraction")
    text = f"centre crop {frac} of the side" if frac is not None else "centre crop"
    if frac is not None and image_side:
        text += f" ({max(1, round(frac * image_side))} px of {image_side})"
    gfrac = views.get("gradcam_fraction")
    text += ("; Grad-CAM window of the same size" if gfrac is None
             else f"; Grad-CAM window {gfrac} of the side")
    text += (f", centred on the maximum of the target's Grad-CAM at "
             f"{views.get('gradcam_layer', 'the last block')} "
             f"({views.get('gradcam_target', 'predicted')} class)")
    return text


METHOD_COLUMNS = {"family": "Family", "view": "View", "similarity": "Similarity",
                  "function": "Function", "k": "k", "alpha": "α", "kappa": "κ",
                  "top_k": "top_k", "template": "Template"}


def methods_table(config: Mapping) -> tables.Table:
    """The configured methods and their key parameters (k, alpha, kappa, view, ...)."""
    templates = config.get("templates", {})
    methods = config.get("methods") or {}
    used = [c for c in METHOD_COLUMNS if any(c in m for m in methods.values())]
    rows = []
    for name, m in methods.items():
        cells = [tables.Cell(name)]
        for c in used:
            value = m.get(c)
            if c == "template" and value in templates:
                value = f"{value} ({templates[value]!r})"
            cells.append(tables.Cell(MISSING if value is None else str(value),
                                     cls="num" if c in ("k", "alpha", "kappa", "top_k") else ""))
        rows.append(tables.Row(cells))
    return tables.Table("methods", "Methods of this run and their parameters.",
                        ["Method", *(METHOD_COLUMNS[c] for c in used)], rows,
                        ["l", *("r" if c in ("k", "alpha", "kappa", "top_k") else "l"
                                for c in used)])


def stages_table(bench: pd.DataFrame) -> tables.Table:
    """Wall time of each workflow stage from the benchmark files: jobs, summed and longest
    job time, peak resident memory."""
    rows = []
    stages = bench.groupby("stage", sort=False).agg(
        jobs=("job", "count"), seconds=("seconds", "sum"), longest=("seconds", "max"),
        max_rss=("max_rss", "max")).sort_values("seconds", ascending=False)
    for stage, r in stages.iterrows():
        rss = MISSING if not np.isfinite(r["max_rss"]) else format_count(r["max_rss"])
        rows.append(tables.Row([tables.Cell(str(stage)), tables.Cell(format_count(r["jobs"]),
                                                                       cls="num"),
                                tables.Cell(format_seconds(r["seconds"]), cls="num"),
                                tables.Cell(format_seconds(r["longest"]), cls="num"),
                                tables.Cell(rss, cls="num")]))
    rows.append(tables.Row([tables.Cell("all stages"), tables.Cell(format_count(len(bench)),
                                                                   cls="num"),
                            tables.Cell(format_seconds(bench["seconds"].sum()), cls="num"),
                            tables.Cell(format_seconds(bench["seconds"].max()), cls="num"),
                            tables.Cell("")], cls="total"))
    return tables.Table("stages", "Wall time of each stage (Snakemake benchmark files).",
                        ["Stage", "Jobs", "Wall time (sum of jobs)", "Longest job",
                         "Peak memory (MB)"], rows, ["l", "r", "r", "r", "r"],
                        ["Jobs of a stage may run in parallel, so the sum can exceed the "
                         "elapsed time."])


def summary_section(config: Mapping, settings: Mapping, probe: ProbeImages | None,
                    bench: pd.DataFrame, date: str) -> Section:
    side = None
    if probe is not None and len(probe):
        side = int(min(probe[int(probe.attributes.index[0])].shape[:2]))
    concept_sets = config.get("concept_sets") or {}
    metrics = config.get("metrics", {})
    items = [
        ("Run", str(settings.get("run", config.get("run", MISSING)))),
        ("Date", date),
        ("Target model", describe_target(config)),
        ("Layers", ", ".join(map(str, config.get("layers", []))) or MISSING),
        ("Probe set", describe_probe(config, probe)),
        ("Concept sets", "; ".join(f"{k} ({'built by the workflow' if v is None else v})"
                                   for k, v in concept_sets.items()) or MISSING),
        ("Views", describe_views(config, side)),
        ("CLIP models", "; ".join(
            f"{k}: {v.get('name')}" + (f" ({v['pretrained']})" if v.get("pretrained") else "")
            for k, v in (config.get("clip_models") or {}).items()) or MISSING),
        ("Metric encoders", f"CLIP text: {metrics.get('clip_model', MISSING)}; sentence: "
                            f"{metrics.get('sentence_model', MISSING)}"),
        ("Software", " · ".join(f"{n} {v}" for n, v in software_versions())),
    ]
    section = Section("summary", "Summary", items=items)
    if config.get("methods"):
        section.tables.append(methods_table(config))
    if len(bench):
        section.tables.append(stages_table(bench))
    return section


# ----------------------------------------------------------------------------- neuron grids


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
                  per_neuron: pd.DataFrame, grid_methods: Mapping[str, str], top_images: int
                  ) -> list[NeuronPanel]:
    """Panels of the neurons of report/neurons.json, in its order."""
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


# ----------------------------------------------------------------------------- crops figure


def displaced_images(center: np.ndarray, gradcam: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` image ids whose Grad-CAM box centre lies farthest from the centre box's
    (ties: lower id first). Boxes (n_images, 4)."""
    c = (center[:, :2] + center[:, 2:]) / 2
    g = (gradcam[:, :2] + gradcam[:, 2:]) / 2
    distance = np.hypot(*(g - c).T)
    order = np.lexsort((np.arange(len(distance)), -distance))
    return order[:n]


def gain_and_loss_images(center_cover: np.ndarray, gradcam_cover: np.ndarray, n: int
                         ) -> np.ndarray:
    """Image ids: the ``ceil(n / 2)`` where the Grad-CAM crop holds the most more of the main
    object than the centre crop, then the rest where it holds the least (ties: lower id)."""
    gain = np.nan_to_num(gradcam_cover - center_cover, nan=0.0)
    ids = np.arange(len(gain))
    n_gain = min(len(gain), (n + 1) // 2)
    best = np.lexsort((ids, -gain))[:n_gain]
    rest = np.setdiff1d(ids, best)
    worst = rest[np.lexsort((rest, gain[rest]))][:max(0, n - n_gain)]
    return np.concatenate([best, worst])


def box_coverage(boxes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Share of each ``target`` box's area (n, 4) inside the matching ``boxes`` (n, 4)."""
    w = np.clip(np.minimum(boxes[:, 2], target[:, 2]) - np.maximum(boxes[:, 0], target[:, 0]),
                0, None)
    h = np.clip(np.minimum(boxes[:, 3], target[:, 3]) - np.maximum(boxes[:, 1], target[:, 1]),
                0, None)
    area = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    return np.where(area > 0, w * h / np.maximum(area, 1), np.nan)


def _main_object(attributes: pd.DataFrame, image_id: int) -> str:
    row = attributes.loc[image_id]
    parts = [str(row[c]) for c in ("color", "texture", "shape")
             if c in row and isinstance(row[c], str) and row[c] != "plain"]
    return " ".join(parts)


MAIN_BOX = ["main_x0", "main_y0", "main_x1", "main_y1"]


def crop_rows(probe: ProbeImages, center: np.ndarray, gradcam: np.ndarray, n: int
              ) -> tuple[list[CropRow], str]:
    """Rows of the centre-versus-Grad-CAM figure and the rule that chose the images: with
    the main object's box (the world), :func:`gain_and_loss_images`; otherwise
    :func:`displaced_images`."""
    attrs = probe.attributes
    main = None
    if all(c in attrs for c in MAIN_BOX) and len(attrs) == len(center):
        main = attrs.loc[np.arange(len(center)), MAIN_BOX].to_numpy(dtype=float)
        cover_c = box_coverage(center.astype(float), main)
        cover_g = box_coverage(gradcam.astype(float), main)
        ids = gain_and_loss_images(cover_c, cover_g, n)
        n_gain = (n + 1) // 2
        rule = (f"the {n_gain} probe images where the Grad-CAM crop gains the most of the main "
                f"object over the centre crop, then the {len(ids) - n_gain} where it loses "
                "the most (share of the main object's box inside each crop)")
    else:
        ids = displaced_images(center, gradcam, n)
        rule = "the probe images whose Grad-CAM window lies farthest from the centre"
    rows = []
    for i in ids:
        i = int(i)
        image = probe[i]
        thumb, scale = figures.fit(image)
        thumb = figures.draw_box(thumb, center[i], scale, figures.BOX_COLORS["center"])
        thumb = figures.draw_box(thumb, gradcam[i], scale, figures.BOX_COLORS["gradcam"])
        crops = []
        for box in (center[i], gradcam[i]):
            x0, y0, x1, y1 = (int(v) for v in box)
            crops.append(figures.png_data_uri(figures.fit(image[y0:y1, x0:x1])[0]))
        coverage = "" if main is None else (
            f"main object inside: centre {format_metric(cover_c[i], 'f1')} %, "
            f"Grad-CAM {format_metric(cover_g[i], 'f1')} %")
        label = f"image {i}"
        obj = _main_object(attrs, i)
        if obj:
            label += f": {obj}"
        rows.append(CropRow(i, label, figures.png_data_uri(thumb), crops[0], crops[1], coverage))
    return rows, rule


# ----------------------------------------------------------------------------- assembly


def config_order(frame: pd.DataFrame, config: Mapping) -> pd.DataFrame:
    """Rows sorted by concept set, method and layer in the config's order (unknown ones
    after, in their first-seen order), then unit."""
    if not len(frame):
        return frame
    keys = {}
    for column, known in (("concept_set", config.get("concept_sets") or {}),
                          ("method", config.get("methods") or {}),
                          ("layer", config.get("layers") or [])):
        order = {v: k for k, v in enumerate(dict.fromkeys([*known, *frame[column]]))}
        keys[column] = frame[column].map(order)
    order = np.lexsort((frame["unit"].to_numpy(), keys["layer"].to_numpy(),
                        keys["method"].to_numpy(), keys["concept_set"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _numbered(sections: list[Section]) -> list[Section]:
    n_table = n_figure = 0
    for k, section in enumerate(sections, start=1):
        section.number = k
        for k_table, table in enumerate(section.tables):
            if table.key not in ("methods", "stages"):
                n_table += 1
                table.number = n_table
                if k_table < len(section.pdf_tables):
                    section.pdf_tables[k_table].number = n_table
        for figure in section.figures:
            n_figure += 1
            figure.number = n_figure
    return sections


def build_report(inputs: Mapping[str, Sequence[str]], settings: Mapping,
                 date: str | None = None) -> dict:
    """The template context of the report.

    inputs: the report rule's named inputs as lists of paths (REPORT_INPUT_KEYS);
    settings: run, title, config, published, published_stability, grid_methods, top_images, figure4_images,
    pdf_description_rows. The template's ``pdf`` flag (False here) picks each section's
    ``pdf_tables`` over its ``tables`` when set.
    """
    config = settings.get("config") or {}
    date = date or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    split = one_path(inputs.get("split", []), "split")
    probe = ProbeImages(split) if split else None
    bench = read_benchmarks(inputs.get("benchmarks", []))
    sections = [summary_section(config, settings, probe, bench, date)]

    per_neuron = read_metric_tables(inputs.get("per_neuron", []),
                                    ("method", "layer", "unit", "hit", "f1", "clip_cos"))
    if len(per_neuron):
        per_neuron = per_neuron.assign(layer=per_neuron["layer"].astype(str))
    t1 = read_metric_tables(inputs.get("table1", []))
    if len(t1):
        sections.append(Section("table1", "Descriptions against the ground truth",
                                tables=[tables.table1(t1, settings.get("published") or {})]))
    abl = read_metric_tables(inputs.get("ablation", []))
    if len(abl):
        sections.append(Section("ablation", "Grad-CAM × t-vMF ablation",
                                tables=[tables.ablation(abl, settings.get("published") or {})]))

    stab_path = one_path(inputs.get("stability_table", []), "stability_table")
    chart_path = one_path(inputs.get("stability_png", []), "stability_png")
    if stab_path or chart_path:
        section = Section("stability", "Stability of CLIP-Dissect labels")
        if stab_path:
            section.tables.append(tables.stability(read_stability_table(stab_path),
                                                   settings.get("published_stability") or {}))
        if chart_path:
            section.figures.append(Figure(
                "stability_chart", "Stability of CLIP-Dissect labels: share of neurons whose "
                "top-5 label set is unchanged as k grows.", uri=figures.png_file_uri(chart_path)))
        sections.append(section)

    descriptions = config_order(read_descriptions(inputs.get("descriptions", [])), config)
    ground_truth = read_ground_truth(one_path(inputs.get("ground_truth", []), "ground_truth"))
    neurons_path = one_path(inputs.get("neurons", []), "neurons")
    boxes = {str(parse_result_path(p).view): read_boxes(p) for p in inputs.get("boxes", [])}
    top_images = int(settings.get("top_images", 8))
    if neurons_path and probe is not None:
        doc = read_neurons_json(neurons_path)
        topk = {key: read_topk(p) for key, p in by_view_and_layer(inputs.get("topk", [])).items()}
        maps_path = one_path(inputs.get("neuron_maps", []), "neuron_maps")
        maps = read_neuron_maps(maps_path) if maps_path else {}
        grid_methods = settings.get("grid_methods") or DEFAULT_GRID_METHODS
        panels = neuron_panels(doc, probe, topk, boxes, maps, descriptions, ground_truth,
                               per_neuron, grid_methods, top_images)
        section = Section("neurons", "Neurons and their top images")
        section.text = (f"Neurons chosen by {doc['method']}'s per-neuron F1 on concept set "
                        f"{doc['concept_set']}: best, worst and a seeded random sample.")
        for layer in dict.fromkeys(p.layer for p in panels):
            section.figures.append(Figure(
                f"neurons_{layer}", grid_caption(layer, doc, top_images, bool(maps)),
                panels=[p for p in panels if p.layer == layer]))
        if section.figures:
            sections.append(section)

    n_crops = int(settings.get("figure4_images", 6))
    if n_crops > 0 and probe is not None and {"center", "gradcam"} <= set(boxes):
        rows, rule = crop_rows(probe, boxes["center"], boxes["gradcam"], n_crops)
        sections.append(Section("crops", "Centre crop versus Grad-CAM crop", figures=[Figure(
            "crops", f"The centre crop (orange) and the Grad-CAM crop (cyan) of {rule}; beside "
            "each image, the two crops as the models see them.", rows=rows)]))

    loc_path = one_path(inputs.get("localisation", []), "localisation")
    if loc_path:
        sections.append(Section("localisation", "ConVis localisation",
                                tables=[tables.localisation(read_localisation(loc_path))]))

    if len(descriptions):
        head = int(settings.get("pdf_description_rows", 40))
        sections.append(Section(
            "descriptions", "All descriptions",
            tables=[tables.descriptions(descriptions, ground_truth, per_neuron)],
            pdf_tables=[tables.descriptions(descriptions, ground_truth, per_neuron, head)]))

    return {"title": settings.get("title") or "conceptlens report",
            "run": settings.get("run", config.get("run", "")), "date": date, "pdf": False,
            "sections": _numbered(sections), "box_colors": {
                k: "#{:02x}{:02x}{:02x}".format(*v) for k, v in figures.BOX_COLORS.items()},
            "colorbar": figures.png_data_uri(figures.colorbar()),
            "top_images": top_images}


def grid_caption(layer: str, doc: Mapping, top_images: int, with_maps: bool) -> str:
    text = (f"Neurons of layer {layer}. Each row shows a neuron's top {top_images} images "
            "under each view, with the view's crop box (orange: centre, cyan: Grad-CAM)")
    if with_maps:
        text += (f", and the ConVis map of {doc['method']}'s top concept over the top "
                 f"images of the {doc['view']} view (bright = concept present)")
    return text + ". Right: the ground truth and the concepts found by each method (✓ hit, ✗ miss)."

