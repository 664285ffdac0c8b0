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
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from conceptlens.scoring import (
    CLIP_DISSECT_FUNCTIONS,
    canonical_order,
    check_clip_dissect_inputs,
)

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
