"""Section 1, the summary: the run in words (target, probe set, views, models, software),
its methods and, from the benchmark files, the wall time of each stage."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from conceptlens.io.probe import ProbeImages
from conceptlens.report.formatting import MISSING, format_count, format_seconds
from conceptlens.report.sections.model import Section
from conceptlens.report.table_models import Cell, Row, Table

SOFTWARE = ("conceptlens", "torch", "torchvision", "open_clip_torch", "grad-cam", "snakemake",
            "numpy", "pandas", "sentence-transformers", "matplotlib", "jinja2", "weasyprint")


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


def methods_table(config: Mapping) -> Table:
    """The configured methods and their key parameters (k, alpha, kappa, view, ...)."""
    templates = config.get("templates", {})
    methods = config.get("methods") or {}
    used = [c for c in METHOD_COLUMNS if any(c in m for m in methods.values())]
    rows = []
    for name, m in methods.items():
        cells = [Cell(name)]
        for c in used:
            value = m.get(c)
            if c == "template" and value in templates:
                value = f"{value} ({templates[value]!r})"
            cells.append(Cell(MISSING if value is None else str(value),
                              cls="num" if c in ("k", "alpha", "kappa", "top_k") else ""))
        rows.append(Row(cells))
    return Table("methods", "Methods of this run and their parameters.",
                 ["Method", *(METHOD_COLUMNS[c] for c in used)], rows,
                 ["l", *("r" if c in ("k", "alpha", "kappa", "top_k") else "l" for c in used)])


def stages_table(bench: pd.DataFrame) -> Table:
    """Wall time of each workflow stage from the benchmark files: jobs, summed and longest
    job time, peak resident memory."""
    rows = []
    stages = bench.groupby("stage", sort=False).agg(
        jobs=("job", "count"), seconds=("seconds", "sum"), longest=("seconds", "max"),
        max_rss=("max_rss", "max")).sort_values("seconds", ascending=False)
    for stage, r in stages.iterrows():
        rss = MISSING if not np.isfinite(r["max_rss"]) else format_count(r["max_rss"])
        rows.append(Row([Cell(str(stage)), Cell(format_count(r["jobs"]), cls="num"),
                         Cell(format_seconds(r["seconds"]), cls="num"),
                         Cell(format_seconds(r["longest"]), cls="num"),
                         Cell(rss, cls="num")]))
    rows.append(Row([Cell("all stages"), Cell(format_count(len(bench)), cls="num"),
                     Cell(format_seconds(bench["seconds"].sum()), cls="num"),
                     Cell(format_seconds(bench["seconds"].max()), cls="num"),
                     Cell("")], cls="total"))
    return Table("stages", "Wall time of each stage (Snakemake benchmark files).",
                 ["Stage", "Jobs", "Wall time (sum of jobs)", "Longest job",
                  "Peak memory (MB)"], rows, ["l", "r", "r", "r", "r"],
                 ["Jobs of a stage may run in parallel, so the sum can exceed the "
                  "elapsed time."])


def summary_section(config: Mapping, settings: Mapping, probe: ProbeImages | None,
                    bench: pd.DataFrame, date: str) -> Section:
    """The summary: the run's settings in words, its methods (when configured) and the
    stages' wall times (when there are benchmark files, ``bench`` of
    :func:`conceptlens.report.inputs.read_benchmarks`)."""
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
    notes = settings.get("fit_notes") or []
    if notes:
        items.append(("Fitted to the probe set", "; ".join(notes)))
    section = Section("summary", "Summary", items=items)
    if settings.get("explorer"):
        section.links.append(("Neuron explorer: every described neuron, its top images, "
                              "every method's concepts and their evidence; search by concept",
                              settings["explorer"]))
    if config.get("methods"):
        section.tables.append(methods_table(config))
    if len(bench):
        section.tables.append(stages_table(bench))
    return section
