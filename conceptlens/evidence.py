"""Evidence for a neuron's description without ground truth (the evidence stage).

The protocol, held-out halves.  The probe set is split once into two halves by
:func:`selection_half`.  For every method, layer and neuron:

1. *Choose again on the selection half*: the method's own scoring runs on the selection
   half only (top-k families on each neuron's top-k images within it, activation families
   on its rows); the best concept is the *held-out description*, ``heldout_agrees`` says
   whether it equals the reported one.
2. *Score on the evaluation half* (the other images, full view): the prediction of
   concept c for an image v is ``cos(v, t_c) - cos(v, t_0)`` (the method's template, t_0
   the template alone, as in WWW's score).  **Simulation** (Linear Explanations, Oikarinen
   & Weng, ICML 2024): Pearson and Spearman correlation of the neuron's activation with
   the prediction of a description over the neuron's *top-and-random* evaluation images
   (its ``simulation_fraction`` most activating ones and as many others at random, as
   Bills et al. 2023 score explanations; over all images a sparse neuron's correlation is
   dominated by the many images it ignores).  **Contrast** (in the spirit
   of CoSy, Kopf et al., NeurIPS 2024, on real images): the concept images are the top
   ``contrast_fraction`` of the evaluation half by prediction (at least one, and at least
   one left over), ``contrast_auc`` the AUC (Mann-Whitney, ties averaged) of the
   activation between them and the rest, ``contrast_diff`` the difference of their mean
   activations in units of the neuron's standard deviation over the evaluation half.
   The scores (``simulation_pearson``, ...) are those of the *reported* description; the
   ``heldout_*`` ones those of the held-out description.  Where the two descriptions
   agree they are the same, and free of selection bias: no image of the evaluation half
   chose the held-out description.  Where they differ (flag ``heldout_differs``), the
   reported description was chosen on the whole probe set, evaluation half included, and
   its scores are in part in-sample; on the world's layer4 (README), scoring the reported
   description tells hits from misses far better (soft-WPMI's contrast AUROC 0.61 with the
   held-out description, which differs from the reported one for half the neurons).
3. *Sanity baselines* (as in Neuron Eval, ICML 2025): every score is computed for every
   neuron and every distinct held-out label of the layer.  *Shuffled*: a neuron's score
   under another neuron's description (drawn among the neurons with a different label),
   its mean and the permutation p-value ``(1 + #{other neurons whose label scores >=
   own}) / (1 + #other neurons)`` (1 for a layer with a single label; at least
   1 / (1 + n_neurons - 1), so a layer of 10 neurons cannot reach 0.05); a neuron *beats* it when the p of both simulation Pearson and contrast
   AUC is <= ``significance``.  *Constant*: the layer's most frequent held-out label (ties:
   first in concept order) scored on every neuron.
4. *Agreement and stability*: the fraction of the other methods giving the same reported
   concept, WWW's ``weak``, and CLIP-Dissect's stability across k and sub-samples.

Degenerate cases: a neuron constant on the evaluation half has NaN correlations (and
p-values), AUC 0.5 and difference 0; a score with an empty class (an evaluation half of
one image) is NaN; neither beats the shuffled baseline.  A method that cannot score the
selection half (too few images for it) gets no held-out evidence (NaN, flag
``no_heldout``).

Everything here is numpy on arrays (float64 inside), vectorised over neurons and labels:
a score matrix is one matrix product of standardised (or ranked) activations and
predictions.  No torch: the workflow's torch-free rules may import this module.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: seed of the probe set's split into a selection and an evaluation half
HALF_SEED = 0
#: elements of one block of columns ranked at a time
_BLOCK_ELEMENTS = 1 << 24
#: the evidence scores, each with a shuffled mean, a p-value and a constant baseline
SCORES = ("simulation_pearson", "simulation_spearman", "contrast_auc", "contrast_diff")
#: columns of a score: the score itself and its baselines
SCORE_SUFFIXES = ("", "_shuffled", "_p", "_constant")
#: the scores whose p-values decide ``beats_shuffled``
DECIDING_SCORES = ("simulation_pearson", "contrast_auc")
#: the flags of :func:`evidence_flags`, in the order they are listed
FLAGS = ("no_heldout", "below_shuffled", "heldout_differs", "weak", "methods_disagree",
         "unstable", "constant_activation")
#: columns of the evidence table, in order
EVIDENCE_COLUMNS = ("method", "layer", "unit", "concept", "heldout_concept", "heldout_agrees",
                    "heldout_simulation_pearson", "heldout_contrast_auc",
                    *(f"{s}{x}" for s in SCORES for x in SCORE_SUFFIXES), "beats_shuffled",
                    "agreement", "weak", "stable_k", "subsample_top1", "flags", "n_evaluation")


def selection_half(n_images: int, seed: int = HALF_SEED) -> np.ndarray:
    """bool (n_images,): True for the images of the selection half (``n_images // 2`` of
    them, drawn by a seeded permutation so that neither half follows the probe order)."""
    order = np.random.default_rng(seed).permutation(n_images)
    half = np.zeros(n_images, dtype=bool)
    half[order[: n_images // 2]] = True
    return half


# --------------------------------------------------------------------------- predictions


def concept_predictions(image_emb: np.ndarray, text_emb: np.ndarray,
                        template_emb: np.ndarray) -> np.ndarray:
    """Prediction of each concept for each image, ``cos(v, t_c) - cos(v, t_0)``.

    image_emb: (n_images, d), text_emb: (m, d), template_emb: (d,), all L2-normalised.
    Returns (n_images, m) float64.
    """
    v = np.asarray(image_emb, np.float64)
    return v @ np.asarray(text_emb, np.float64).T - (v @ np.asarray(template_emb, np.float64)
                                                      )[:, None]


# --------------------------------------------------------------------------- score matrices


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of each column of x (n, c) along axis 0, ties given their average rank.
    Returns (n, c) float64.  Blocks of columns are ranked at a time (contiguous rows of the
    transpose), to bound the scratch memory."""
    x = np.asarray(x)
    n, c = x.shape
    out = np.empty((c, n), np.float64)
    if n == 0:
        return out.T
    pos = np.arange(n)
    step = max(1, _BLOCK_ELEMENTS // n)
    for c0 in range(0, c, step):
        block = np.ascontiguousarray(x[:, c0:c0 + step].T)  # (b, n)
        order = np.argsort(block, axis=1, kind="stable")  # fastest with many ties
        s = np.take_along_axis(block, order, axis=1)
        starts = np.ones(s.shape, bool)
        starts[:, 1:] = s[:, 1:] != s[:, :-1]
        ends = np.ones(s.shape, bool)
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends, pos, n)[:, ::-1], axis=1)[:, ::-1]
        np.put_along_axis(out[c0:c0 + step], order, (first + last) / 2 + 1, axis=1)
    return out.T


def _standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns of x (n, c) centred and scaled to unit norm, and bool (c,): the column
    varies (constant columns, exactly equal values, are zeros)."""
    x = np.asarray(x, np.float64)
    varies = (np.ptp(x, axis=0) > 0) if len(x) else np.zeros(x.shape[1], bool)
    z = x - x.mean(axis=0) if len(x) else x.copy()
    norm = np.sqrt((z * z).sum(axis=0))
    z = np.divide(z, norm, out=np.zeros_like(z), where=varies & (norm > 0))
    return z, varies


def pearson_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of a (n, p) with every column of b (n, q):
    (p, q) float64, NaN where either column is constant (or n < 2)."""
    za, va = _standardised(a)
    zb, vb = _standardised(b)
    r = np.clip(za.T @ zb, -1.0, 1.0)
    r[~(va[:, None] & vb[None, :])] = np.nan
    return r


def spearman_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of every column of a (n, p) with every column of b (n, q):
    (p, q) float64 (Pearson of the average ranks), NaN where either column is constant."""
    return pearson_matrix(average_ranks(a), average_ranks(b))


def top_fraction_mask(predictions: np.ndarray, fraction: float) -> np.ndarray:
    """bool (n_images, n_labels): each label's concept images, its ``fraction`` of the
    images with the highest predictions (predictions: (n_images, n_labels)); at least one
    and, where there are two images or more, at least one left over.  Ties go to the
    earlier image."""
    if not 0 < fraction < 1:
        raise ValueError(f"contrast_fraction must be in (0, 1), got {fraction}")
    n = predictions.shape[0]
    mask = np.zeros(predictions.shape, bool)
    if n == 0:
        return mask
    count = min(max(1, int(round(fraction * n))), max(n - 1, 1))
    return top_count_mask(predictions, count)


def top_count_mask(values: np.ndarray, count: int) -> np.ndarray:
    """bool (n, c): the ``count`` highest values of each column of values (n, c) (ties to
    the earlier row; all rows where there are fewer)."""
    values = np.asarray(values, np.float64)
    mask = np.zeros(values.shape, bool)
    rows = np.ascontiguousarray(-values.T)  # (c, n)
    top = np.argsort(rows, axis=1, kind="stable")[:, :max(0, min(count, len(values)))]
    np.put_along_axis(mask.T, top, True, axis=1)
    return mask


def auc_from_ranks(ranks: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of every column of ``ranks`` (n, p; average ranks of scores) between
    the positives and the rest of every column of ``positives`` (bool (n, q)): (p, q)
    float64, NaN where a column of positives has no positive or no negative."""
    pos = np.asarray(positives, np.float64)
    n1 = pos.sum(axis=0)
    n0 = pos.shape[0] - n1
    rank_sums = ranks.T @ pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sums - (n1 * (n1 + 1) / 2)[None, :]) / (n1 * n0)[None, :]
    auc[:, (n1 == 0) | (n0 == 0)] = np.nan
    return auc


def auc_matrix(activations: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """AUC of every neuron's activation (activations (n, p)) between each label's positives
    and the rest (positives bool (n, q)): (p, q); ties averaged, so a constant neuron gets
    0.5; NaN where a label has no positive or no negative."""
    return auc_from_ranks(average_ranks(activations), positives)


def contrast_diff_matrix(activations: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Mean activation of the positives minus that of the rest, in units of each neuron's
    standard deviation over all n images (activations (n, p), positives bool (n, q)):
    (p, q) float64; 0 for a constant neuron, NaN where a label has no positive or no
    negative."""
    a = np.asarray(activations, np.float64)
    pos = np.asarray(positives, np.float64)
    n1 = pos.sum(axis=0)
    n0 = pos.shape[0] - n1
    varies = np.ptp(a, axis=0) > 0 if len(a) else np.zeros(a.shape[1], bool)
    std = a.std(axis=0) if len(a) else np.zeros(a.shape[1])
    z = np.divide(a - a.mean(axis=0), std, out=np.zeros_like(a), where=varies & (std > 0))
    z -= z.mean(axis=0)  # exactly centred, so the rest's sum is minus the positives'
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = (z.T @ pos) * (1 / n1 + 1 / n0)[None, :]
    diff[:, (n1 == 0) | (n0 == 0)] = np.nan
    return diff


#: the fewest top images of a simulation (small evaluation halves: up to half of them)
MIN_SIMULATION_TOP = 10


def top_and_random_mask(activations: np.ndarray, fraction: float, seed: int = HALF_SEED
                        ) -> np.ndarray:
    """bool (n_images, n_neurons): each neuron's simulation images, *top and random* (as
    Bills et al. 2023 and Linear Explanations score explanations): its ``fraction`` most
    activating images (at least :data:`MIN_SIMULATION_TOP`, at most half of the images)
    and as many of the others drawn at random (seeded)."""
    a = np.asarray(activations, np.float64)
    n = len(a)
    count = min(max(int(round(fraction * n)), MIN_SIMULATION_TOP), n // 2)
    top = top_count_mask(a, max(count, 1 if n else 0))
    if n < 2:
        return top
    draw = np.random.default_rng(seed).random(a.shape)
    draw[top] = -np.inf
    return top | top_count_mask(draw, count)  # count <= n // 2: enough others


def masked_pearson_matrix(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column j of a (n, p) with every column of b (n, q),
    over the rows where mask[:, j] (bool (n, p)): (p, q) float64; NaN where a's column is
    constant on those rows (or there are fewer than 2), 0 where only b's is (a constant
    prediction predicts nothing).  Matrix products of the masked sums."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if not len(a):
        return np.full((a.shape[1], b.shape[1]), np.nan)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    w = np.asarray(mask, np.float64)
    n = w.sum(axis=0)[:, None]
    wa = w * a
    sa, saa = wa.sum(axis=0)[:, None], (wa * a).sum(axis=0)[:, None]
    sb, sbb, sab = w.T @ b, w.T @ (b * b), wa.T @ b
    with np.errstate(invalid="ignore", divide="ignore"):
        var_a = saa - sa * sa / n
        var_b = sbb - sb * sb / n
        r = (sab - sa * sb / n) / np.sqrt(var_a * var_b)
    scale_a, scale_b = np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0)
    flat_a = (n < 2) | (var_a <= 1e-12 * max(scale_a, 1e-300) ** 2 * n)
    flat_b = var_b <= 1e-12 * max(scale_b, 1e-300) ** 2 * n
    r = np.clip(np.nan_to_num(r, nan=0.0), -1.0, 1.0)
    r[np.broadcast_to(flat_b, r.shape)] = 0.0  # a description constant there predicts nothing
    r[np.broadcast_to(flat_a, r.shape)] = np.nan
    return r


def score_matrices(activations: np.ndarray, predictions: np.ndarray,
                   contrast_fraction: float = 0.1, simulation_fraction: float = 0.1
                   ) -> dict[str, np.ndarray]:
    """Every score of every neuron under every label: {score name (:data:`SCORES`): (n_neurons,
    n_labels)} from activations (n_images, n_neurons) and predictions (n_images, n_labels)
    on the same images.  Simulation is scored on each neuron's top-and-random images
    (:func:`top_and_random_mask` with ``simulation_fraction``; Spearman: the Pearson of the
    ranks over all the images, on those), contrast on all the images."""
    a = np.asarray(activations, np.float64)
    p = np.asarray(predictions, np.float64)
    if a.shape[0] != p.shape[0]:
        raise ValueError(f"{a.shape[0]} images of activations, {p.shape[0]} of predictions")
    ranks = average_ranks(a)
    concept_images = top_fraction_mask(p, contrast_fraction)
    simulated = top_and_random_mask(a, simulation_fraction)
    return {
        "simulation_pearson": masked_pearson_matrix(a, p, simulated),
        "simulation_spearman": masked_pearson_matrix(ranks, average_ranks(p), simulated),
        "contrast_auc": auc_from_ranks(ranks, concept_images),
        "contrast_diff": contrast_diff_matrix(a, concept_images),
    }


# --------------------------------------------------------------------------- baselines


def shuffled_baseline(scores: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's score under another neuron's description: scores (n_neurons,
    n_labels), own (n_neurons,) the column of each neuron's own label.

    The shuffled description of a neuron is that of another neuron, drawn uniformly among
    the neurons whose label differs from its own (a label held by many neurons is drawn as
    often).  Returns (mean (n_neurons,) of the score under it, NaN where there is none;
    p (n_neurons,) = ``(1 + #{other neurons whose label scores >= own}) / (1 + #other
    neurons)``, counting only neurons with a different label).  Labels with a NaN score
    are left out of both counts; a NaN own score has p NaN; no neuron with another label
    gives p = 1.
    """
    scores = np.asarray(scores, np.float64)
    n, q = scores.shape
    own = np.asarray(own, np.int64)
    held_by = np.bincount(own, minlength=q).astype(np.float64)  # neurons per label
    mine = scores[np.arange(n), own]
    others = np.ones((n, q), bool)
    others[np.arange(n), own] = False
    others &= ~np.isnan(scores)
    weight = np.where(others, held_by[None, :], 0.0)
    n_other = weight.sum(axis=1)
    total = (weight * np.where(others, scores, 0.0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_other > 0, total / np.maximum(n_other, 1), np.nan)
        at_least = (weight * (scores >= mine[:, None])).sum(axis=1)
    p = (1 + at_least) / (1 + n_other)
    p = np.where(np.isnan(mine), np.nan, p)
    return mean, p


def most_frequent(labels: np.ndarray) -> int:
    """The most frequent of integer ``labels`` (n,), ties to the smallest (first in concept
    order when labels are concept indices)."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    if not len(values):
        raise ValueError("no labels")
    return int(values[np.argmax(counts)])


def layer_evidence(activations: np.ndarray, predictions: np.ndarray, own: np.ndarray,
                   constant: int | None = None, contrast_fraction: float = 0.1,
                   significance: float = 0.05, simulation_fraction: float = 0.1
                   ) -> dict[str, np.ndarray]:
    """The evidence scores of one layer's neurons on the evaluation images.

    activations: (n_images, n_neurons); predictions: (n_images, n_labels) of the layer's
    distinct held-out labels; own: (n_neurons,) each neuron's label (a column of
    predictions); constant: the column of the constant baseline's label (default: the most
    frequent of ``own``, ties to the first column).

    Returns {column: (n_neurons,)}: each score of :data:`SCORES` with ``_shuffled``, ``_p``
    and ``_constant`` (see :func:`shuffled_baseline`), and bool ``beats_shuffled`` (the p of
    every :data:`DECIDING_SCORES` <= significance).
    """
    own = np.asarray(own, np.int64)
    n = len(own)
    if np.asarray(activations).shape[1] != n:
        raise ValueError(f"{np.asarray(activations).shape[1]} neurons, {n} labels")
    constant = most_frequent(own) if constant is None else int(constant)
    out: dict[str, np.ndarray] = {}
    beats = np.ones(n, bool)
    for name, matrix in score_matrices(activations, predictions, contrast_fraction,
                                       simulation_fraction).items():
        mean, p = shuffled_baseline(matrix, own)
        out[name] = matrix[np.arange(n), own]
        out[f"{name}_shuffled"], out[f"{name}_p"] = mean, p
        out[f"{name}_constant"] = matrix[:, constant]
        if name in DECIDING_SCORES:
            with np.errstate(invalid="ignore"):
                beats &= p <= significance
    out["beats_shuffled"] = beats
    return out


# --------------------------------------------------------------------------- across methods


def agreement(concepts: np.ndarray) -> np.ndarray:
    """Fraction of the other methods describing each neuron with the same concept.

    concepts: (n_methods, n_neurons) of concept names (None / NaN: no concept, agreeing
    with nothing).  Returns (n_methods, n_neurons) float64, NaN with a single method.
    """
    c = np.asarray(concepts, dtype=object)
    m = c.shape[0]
    if m < 2:
        return np.full(c.shape, np.nan)
    missing = np.array([_missing(x) for x in c.ravel()], dtype=bool).reshape(c.shape)
    _, codes = np.unique(np.where(missing, "", c).astype(str), return_inverse=True)
    codes = codes.reshape(c.shape)
    codes = np.where(missing, -1 - np.arange(m)[:, None], codes)  # distinct per method
    same = (codes[:, None, :] == codes[None, :, :]).sum(axis=1) - 1
    return same / (m - 1)


def _missing(x) -> bool:
    """None, NaN or pandas.NA (without importing pandas)."""
    return (x is None or type(x).__name__ == "NAType"
            or (isinstance(x, float | np.floating) and bool(np.isnan(x))))


def evidence_flags(columns: Mapping[str, np.ndarray]) -> list[str]:
    """The comma-separated flags of each neuron ("" when none), from arrays (n,) of the
    evidence table: ``below_shuffled`` (not beats_shuffled), ``heldout_differs`` (not
    heldout_agrees), ``weak``, ``methods_disagree`` (agreement 0; NaN agreement, no other
    method, is no flag), ``unstable`` (stable_k False; missing is no flag) and
    ``constant_activation`` (the neuron does not vary on the evaluation half) and
    ``no_heldout`` (the method could not choose on the selection half), the last two given
    as bool (n,) under their names.  A missing array raises no flag."""
    n = len(columns["beats_shuffled"])

    def column(name, default):
        value = columns.get(name)
        return np.full(n, default) if value is None else np.asarray(value, dtype=object)

    conditions = {
        "no_heldout": column("no_heldout", False).astype(bool),
        "below_shuffled": ~column("beats_shuffled", True).astype(bool),
        "heldout_differs": ~column("heldout_agrees", True).astype(bool),
        "weak": column("weak", False).astype(bool),
        "methods_disagree": np.array([not _missing(a) and a == 0
                                      for a in column("agreement", np.nan)], bool),
        "unstable": np.array([not _missing(s) and not bool(s)
                              for s in column("stable_k", None)], bool),
        "constant_activation": column("constant_activation", False).astype(bool),
    }
    return [",".join(flag for flag in FLAGS if conditions[flag][i]) for i in range(n)]
