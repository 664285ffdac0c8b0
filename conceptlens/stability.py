"""Stability of CLIP-Dissect neuron labels over k and over probe sub-samples.

For a top-k similarity function f (``soft_wpmi``, ``wpmi``), image-concept similarities
``clip_feats`` (n_images, m) and a layer's activations ``target_feats`` (n_images, n), each
neuron's labels are its ``top`` best concepts under f with ``top_k = k``.  Compared between
the reference k (the first of ``ks``) and every other k:

* ``same``: the two label *sets* are equal;
* ``jaccard``: |A & B| / |A | B| of the two label sets (an index in [0, 1]);
* ``top1``: the best label is the same.

The sub-sample perturbation rescores on a random ``fraction`` of the probe images (one
subset per seed, shared by all layers) and compares the top-1 label with the full probe
set's at the same k.

Ties.  Activations stored as float16 tie often (demo ``layer4``: 45 of 512 channels tie at
the rank-16 boundary), and ``torch.topk`` then picks among the tied images by their
position, so f's scores depend on the probe order.  Every scoring call here therefore
first puts the images in a canonical order that depends only on their content
(``canonical_order``), which makes the labels exactly invariant under reordering the
probe set.  Concept ties in the scores are broken by concept index (stable sort).

Per-layer similarities (soft-WPMI normalises over the neurons of one call, as in the
paper); percentages are pooled over all neurons of all layers.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from conceptlens.files import atomic_path
from conceptlens.scoring import CLIP_DISSECT_FUNCTIONS, check_clip_dissect_inputs

#: row of the table holding the numbers pooled over all layers
ALL_LAYERS = "all"
SUBSAMPLE_MEAN = "subsample top-1 mean"
SUBSAMPLE_STD = "subsample top-1 std"
NEURONS = "neurons"

_SAME = re.compile(r"^same_(\d+)_(\d+)$")
_SEED = re.compile(r"^subsample_top1_seed(\d+)$")
_PAIR_COLUMN = re.compile(r"^(k=|jaccard |top-1 )\d+->\d+$")
_SAME_COLUMN = re.compile(r"^k=\d+->\d+$")


# --------------------------------------------------------------------------- label sets


def top_labels(scores: Tensor, top: int = 5) -> Tensor:
    """Each neuron's ``top`` best concepts: scores (n, m) -> long (n, top), best first.

    Ties are broken by concept index (lower first); NaN ranks last.  ``top`` > m is clamped
    to m with a warning (as ``scoring.topk_concepts`` does).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_neurons, n_concepts), got {tuple(scores.shape)}")
    top = _clamp(top, scores.shape[1], "top", "concepts")
    scores = torch.nan_to_num(scores, nan=float("-inf"))
    return torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :top]


def _check_label_pair(a: Tensor, b: Tensor) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError("label rows must be two (n_neurons, top) tensors of the same shape; "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.is_floating_point() or b.is_floating_point():
        raise ValueError(f"labels must be integer concept indices, got {a.dtype}, {b.dtype}")


def same_set(a: Tensor, b: Tensor) -> Tensor:
    """Bool (n,): row i of a (n, t) and of b (n, t) hold the same labels in any order."""
    _check_label_pair(a, b)
    return (a.sort(dim=1).values == b.sort(dim=1).values).all(dim=1)


def jaccard(a: Tensor, b: Tensor) -> Tensor:
    """Float64 (n,): Jaccard index |A & B| / |A | B| of the label sets in rows of a, b (n, t).

    Rows must hold distinct labels (as ``top_labels`` gives); an empty row pair gives 1.
    """
    _check_label_pair(a, b)
    for name, x in (("a", a), ("b", b)):
        s = x.sort(dim=1).values
        if bool((s[:, 1:] == s[:, :-1]).any()):
            raise ValueError(f"jaccard: a row of {name} repeats a label")
    t = a.shape[1]
    if t == 0:
        return torch.ones(a.shape[0], dtype=torch.float64)
    inter = (a[:, :, None] == b[:, None, :]).any(dim=2).sum(dim=1).double()
    return inter / (2 * t - inter)


def top1_agree(a: Tensor, b: Tensor) -> Tensor:
    """Bool (n,): the first (best) labels of rows of a (n, t) and b (n, t) are equal."""
    _check_label_pair(a, b)
    if a.shape[1] == 0:
        raise ValueError("top1_agree needs at least one label per neuron")
    return a[:, 0] == b[:, 0]


# --------------------------------------------------------------------------- scoring


def topk_function(name: str):
    """The CLIP-Dissect function ``name`` if it takes ``top_k`` (soft_wpmi, wpmi)."""
    valid = [f for f, fn in CLIP_DISSECT_FUNCTIONS.items()
             if "top_k" in inspect.signature(fn).parameters]
    if name not in valid:
        raise ValueError(f"unknown similarity function {name!r} for the stability analysis; "
                         f"use one of {', '.join(valid)}")
    return CLIP_DISSECT_FUNCTIONS[name]


def _row_bytes(x: Tensor) -> np.ndarray:
    """(n, ...) tensor -> (n,) numpy void keys, each the raw bytes of one row."""
    a = np.ascontiguousarray(x.detach().cpu().numpy()).reshape(x.shape[0], -1)
    a = np.ascontiguousarray(a.view(np.uint8))
    if a.shape[1] == 0:  # rows without columns: all equal
        a = np.zeros((a.shape[0], 1), np.uint8)
    return a.view(np.dtype((np.void, a.shape[1]))).ravel()


def canonical_order(clip_feats: Tensor, target_feats: Tensor) -> Tensor:
    """Long (n_images,): an order of the images that depends only on their content.

    Sorted by the bytes of each image's activation row, then (only among images with
    identical activations) of its clip row.  Images equal in both are interchangeable, so
    scoring the rows in this order gives the same result for any permutation of the input.
    """
    n = target_feats.shape[0]
    _, group = np.unique(_row_bytes(target_feats), return_inverse=True)
    group = group.reshape(-1)
    tie = np.bincount(group, minlength=1)[group] > 1
    clip_rank = np.zeros(n, np.int64)
    if tie.any():
        rows = torch.from_numpy(np.flatnonzero(tie)).to(clip_feats.device)
        _, ranks = np.unique(_row_bytes(clip_feats.index_select(0, rows)), return_inverse=True)
        clip_rank[tie] = ranks.reshape(-1)
    return torch.from_numpy(np.lexsort((clip_rank, group)))


def labels_by_k(clip_feats: Tensor, target_feats: Tensor, function: str, ks: Sequence[int],
                top: int = 5) -> dict[int, Tensor]:
    """Labels of every neuron for each k: {k: long (n, top)}.

    clip_feats (n_images, m) image-concept similarities, target_feats (n_images, n)
    activations; ``function`` is scored with ``top_k = k`` on the images in
    ``canonical_order`` (so the result does not depend on the probe order).  k > n_images
    is clamped by the scoring function with a warning.
    """
    fn = topk_function(function)
    check_clip_dissect_inputs(clip_feats, target_feats)
    if not ks:
        raise ValueError("ks must name at least one k")
    for k in ks:
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"every k must be an integer >= 1, got {k!r}")
    order = canonical_order(clip_feats, target_feats).to(clip_feats.device)
    clip = clip_feats.index_select(0, order)
    target = target_feats.to(clip_feats.device).index_select(0, order)
    out: dict[int, Tensor] = {}
    for k in dict.fromkeys(int(k) for k in ks):
        out[k] = top_labels(fn(clip, target, top_k=k), top)
    return out


# --------------------------------------------------------------------------- perturbations


class Subsample(NamedTuple):
    """The different-image-set perturbation: ``fraction`` of the images per seed, at ``k``."""

    fraction: float = 0.8
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    k: int = 10

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Subsample:
        """From a config mapping with optional keys fraction, seeds, k (unknown keys: error)."""
        config = dict(config or {})
        unknown = set(config) - set(cls._fields)
        if unknown:
            raise ValueError(f"unknown subsample key(s) {sorted(unknown)}; valid: "
                             f"{', '.join(cls._fields)}")
        sub = cls(**config)
        sub = sub._replace(seeds=tuple(int(s) for s in sub.seeds))
        if not 0 < sub.fraction <= 1:
            raise ValueError(f"subsample fraction must be in (0, 1], got {sub.fraction}")
        if int(sub.k) != sub.k or sub.k < 1:
            raise ValueError(f"subsample k must be an integer >= 1, got {sub.k!r}")
        return sub._replace(k=int(sub.k))


#: the configured default: 80% of the images, seeds 0-4, k = 10
DEFAULT_SUBSAMPLE = Subsample()


def subsample_rows(n_images: int, fraction: float, seeds: Sequence[int]) -> dict[int, Tensor]:
    """{seed: long (round(fraction * n_images),)} sorted rows of a random image subset."""
    if not 0 < fraction <= 1:
        raise ValueError(f"subsample fraction must be in (0, 1], got {fraction}")
    size = int(round(fraction * n_images))
    if size < 1:
        raise ValueError(f"subsample fraction {fraction} of {n_images} images keeps no image")
    out = {}
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        out[int(seed)] = torch.randperm(n_images, generator=gen)[:size].sort().values
    return out


# --------------------------------------------------------------------------- per layer


def layer_stability(layer: str, clip_feats: Tensor, target_feats: Tensor, function: str,
                    concepts: Sequence[str], ks: Sequence[int] = (5, 10, 16), top: int = 5,
                    subsets: Mapping[int, Tensor] | None = None, subsample_k: int = 10,
                    units: Sequence[int] | np.ndarray | None = None) -> pd.DataFrame:
    """Per-neuron stability of one layer's labels; one row per neuron.

    Columns: ``layer``, ``unit``; ``top{top}_k{k}`` (list of concept names, best first) for
    each k; for the reference r = ks[0] and each other k: ``same_{r}_{k}`` (bool),
    ``jaccard_{r}_{k}`` (float in [0, 1]), ``top1_{r}_{k}`` (bool); for each seed of
    ``subsets`` ({seed: image rows}): ``subsample_top1_seed{seed}`` (bool, top-1 label on
    the subset equals the full probe set's, both at ``subsample_k``).
    """
    n_images, m = clip_feats.shape
    if len(concepts) != m:
        raise ValueError(f"{len(concepts)} concept names for {m} concept columns")
    n = target_feats.shape[1]
    units = np.arange(n) if units is None else np.asarray(units)
    if units.shape != (n,):
        raise ValueError(f"{units.shape[0] if units.ndim else 0} unit ids for {n} neurons")
    subsets = dict(subsets or {})
    want = list(ks) + ([subsample_k] if subsets else [])
    labels = labels_by_k(clip_feats, target_feats, function, want, top)
    names = np.asarray(list(concepts), dtype=object)
    frame: dict[str, Any] = {"layer": layer, "unit": units}
    t = next(iter(labels.values())).shape[1]
    for k in dict.fromkeys(int(k) for k in ks):
        frame[f"top{t}_k{k}"] = [list(r) for r in names[labels[k].cpu().numpy()]]
    ref = int(ks[0])
    for k in (int(k) for k in ks[1:]):
        a, b = labels[ref], labels[k]
        frame[f"same_{ref}_{k}"] = same_set(a, b).cpu().numpy()
        frame[f"jaccard_{ref}_{k}"] = jaccard(a, b).cpu().numpy()
        frame[f"top1_{ref}_{k}"] = top1_agree(a, b).cpu().numpy()
    for seed, rows in subsets.items():
        rows = torch.as_tensor(rows, dtype=torch.long)
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= n_images):
            raise ValueError(f"subsample seed {seed}: rows out of range for {n_images} images")
        rows = rows.to(clip_feats.device)
        sub = labels_by_k(clip_feats.index_select(0, rows),
                          target_feats.index_select(0, rows.to(target_feats.device)),
                          function, [subsample_k], top)[int(subsample_k)]
        frame[f"subsample_top1_seed{seed}"] = top1_agree(labels[int(subsample_k)], sub
                                                         ).cpu().numpy()
    return pd.DataFrame(frame)


def pooled_stability(layers: Sequence[tuple[str, Tensor, np.ndarray | None]],
                     clip_feats: Tensor, function: str, concepts: Sequence[str],
                     ks: Sequence[int] = (5, 10, 16), top: int = 5,
                     subsample: Subsample | None = DEFAULT_SUBSAMPLE) -> pd.DataFrame:
    """Per-neuron stability of several layers: [(layer, activations (n_images, n), units)].

    Each layer is scored on its own; the sub-sampled image sets are drawn once and shared
    by all layers (None: no sub-sample columns).  Returns the concatenated ``layer_stability`` frames.
    """
    if not layers:
        raise ValueError("no layers to analyse")
    subsets = (subsample_rows(clip_feats.shape[0], subsample.fraction, subsample.seeds)
               if subsample is not None else None)
    sub_k = subsample.k if subsample is not None else int(ks[0])
    frames = [layer_stability(name, clip_feats, acts, function, concepts, ks, top, subsets,
                              sub_k, units) for name, acts, units in layers]
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- summaries


def _numbers(frame: pd.DataFrame) -> dict[str, float]:
    """Pooled numbers of per-neuron rows (percentages 0-100; Jaccard index 0-1)."""
    pairs = [(m.group(1), m.group(2)) for c in frame.columns if (m := _SAME.match(c))]
    out: dict[str, float] = {}
    for r, k in pairs:
        out[f"k={r}->{k}"] = 100 * float(frame[f"same_{r}_{k}"].mean())
    for r, k in pairs:
        out[f"jaccard {r}->{k}"] = float(frame[f"jaccard_{r}_{k}"].mean())
    for r, k in pairs:
        out[f"top-1 {r}->{k}"] = 100 * float(frame[f"top1_{r}_{k}"].mean())
    seeds = [c for c in frame.columns if _SEED.match(c)]
    per_seed = np.array([100 * float(frame[c].mean()) for c in seeds])
    out[SUBSAMPLE_MEAN] = float(per_seed.mean()) if len(seeds) else math.nan
    out[SUBSAMPLE_STD] = float(per_seed.std()) if len(seeds) else math.nan  # ddof = 0
    out[NEURONS] = len(frame)
    return out


def summarise(per_neuron: pd.DataFrame, name: str) -> dict[str, Any]:
    """Pooled stability numbers of per-neuron rows (``layer_stability`` columns).

    Returns {"name", the pooled numbers (``k=5->10``, ..., ``subsample top-1 mean``,
    ``subsample top-1 std`` (population std over seeds), ``neurons``), "subsample top-1 per
    seed": {seed: %}, "layers": {layer: the same numbers for that layer's neurons}}.
    Percentages are 0-100 over all neurons of all layers; Jaccard indices are 0-1.
    """
    if per_neuron.empty:
        raise ValueError(f"{name}: no neurons to summarise")
    if "layer" not in per_neuron.columns:
        raise ValueError(f"{name}: per-neuron rows lack the column 'layer'")
    seeds = {m.group(1): 100 * float(per_neuron[c].mean())
             for c in per_neuron.columns if (m := _SEED.match(c))}
    layers = {str(layer): _numbers(per_neuron[per_neuron["layer"] == layer])
              for layer in pd.unique(per_neuron["layer"])}
    return {"name": name, **_numbers(per_neuron), "subsample top-1 per seed": seeds,
            "layers": layers}


def _table_columns(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    pairs = list(dict.fromkeys(k for s in summaries for k in s if _PAIR_COLUMN.match(k)))
    ordered = [c for prefix in ("k=", "jaccard ", "top-1 ") for c in pairs
               if c.startswith(prefix)]
    return ordered + [SUBSAMPLE_MEAN, SUBSAMPLE_STD, NEURONS]


def stability_table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One pooled row (``layer`` = "all") and one row per layer for each summary.

    Index ``name`` ({probe}_{concepts}_{function}); columns ``layer``, then ``k=5->10``,
    ``k=5->16``, ``jaccard 5->10``, ``jaccard 5->16``, ``top-1 5->10``, ``top-1 5->16``,
    ``subsample top-1 mean``, ``subsample top-1 std``, ``neurons`` (names follow the ks).
    """
    if not summaries:
        raise ValueError("no stability summaries to tabulate")
    names = [s.get("name") for s in summaries]
    for s in summaries:
        if not isinstance(s.get("name"), str):
            raise ValueError(f"stability summary without a name: keys {sorted(s)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate stability summary name(s): {dup}")
    columns = _table_columns(summaries)
    rows, index = [], []
    for s in summaries:
        for layer, numbers in [(ALL_LAYERS, s), *s.get("layers", {}).items()]:
            rows.append({"layer": layer, **{c: numbers.get(c, math.nan) for c in columns}})
            index.append(s["name"])
    table = pd.DataFrame(rows, index=pd.Index(index, name="name"),
                         columns=["layer", *columns])
    table[NEURONS] = table[NEURONS].astype("Int64")
    return table


# --------------------------------------------------------------------------- files


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is pd.NA:
        return None
    return x


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """JSON (indent 2, NaN as null), atomically."""
    text = json.dumps(_jsonable(obj), indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """A summary JSON written by the stability rule (clear error when it is not one)."""
    try:
        summary = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err})") from err
    if not isinstance(summary, dict) or not isinstance(summary.get("name"), str):
        raise ValueError(f"{path}: not a stability summary (no 'name')")
    return summary


def write_per_neuron(path: str | os.PathLike, per_neuron: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        per_neuron.to_parquet(tmp, index=False)


def write_table(table: pd.DataFrame, csv_path: str | os.PathLike,
                json_path: str | os.PathLike) -> None:
    """CSV (name as the first column) and JSON {"columns": [...], "rows": [records]}."""
    flat = table.reset_index()
    with atomic_path(csv_path) as tmp:
        flat.to_csv(tmp, index=False)
    write_json(json_path, {"columns": list(flat.columns),
                           "rows": flat.astype(object).to_dict(orient="records")})


def stability_chart(table: pd.DataFrame, png_path: str | os.PathLike,
                    svg_path: str | os.PathLike) -> None:
    """Grouped bars of the ``k=a->b`` columns (% of neurons, pooled rows), PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[table["layer"] == ALL_LAYERS] if "layer" in table.columns else table
    columns = [c for c in table.columns if _SAME_COLUMN.match(str(c))]
    if rows.empty or not columns:
        raise ValueError("stability_chart needs pooled rows and at least one k=a->b column")
    names = [str(n) for n in rows.index]
    x = np.arange(len(names))
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    try:
        for i, col in enumerate(columns):
            values = rows[col].to_numpy(dtype=float)
            bars = ax.bar(x + (i - (len(columns) - 1) / 2) * width, values, width,
                          label=col.replace("=", " = ").replace("->", " \u2192 "))
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
        ax.set_xticks(x, names)
        if max(len(n) for n in names) * len(names) > 60:
            plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
        ax.set_ylim(0, 110)
        ax.set_ylabel("same label set (% of neurons)")
        ax.legend(fontsize=8, ncols=len(columns), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  frameon=False, title="same top labels when k changes", title_fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, dpi=150, format="png")
        with atomic_path(svg_path) as tmp:
            fig.savefig(tmp, format="svg")
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- checks


def check_image_count(n_images: int, n_rows: int, path: str | os.PathLike,
                      reference: str | os.PathLike) -> None:
    """Error naming ``path`` when its n_rows differ from the n_images of ``reference``."""
    if n_rows != n_images:
        raise ValueError(f"{path}: {n_rows} images, but {reference} has {n_images}; the "
                         "activations must cover the same probe images as the embeddings")


def _clamp(value: int, available: int, what: str, of: str) -> int:
    if value < 1:
        raise ValueError(f"{what} must be >= 1, got {value}")
    if value > available:
        warnings.warn(f"{what}={value} requested but there are only {available} {of}; "
                      f"using {what}={available}", stacklevel=3)
        return available
    return value
