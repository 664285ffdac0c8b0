"""Metrics of neuron descriptions against ground-truth labels (pure functions).

A neuron's *ground truth* is a list of synonyms (e.g. ``["ring", "annulus", "donut"]``); its
*description* is the ranked list of concepts a method selected for it.  Concepts match when
equal after ``strip()`` and lower-casing (:func:`normalize_concept`).

Definitions follow the public code of WWW (Ahn et al., CVPR 2024; github.com/ailab-kyunghee/WWW,
``utils/metric_utils.py``: ``ours_accuracy``, ``compute_pr``/``pr``, ``compute_sim``/
``similarities``; driven by ``compute_score.py``), which the CLIP-Dissect-style evaluation of
that paper uses:

- hit rate (WWW's "Accuracy"): share of neurons with any selected concept among the synonyms;
- per neuron, precision = |selected ∩ synonyms| / |selected| and recall = |selected ∩
  synonyms| / |synonyms|, i.e. recall is over the neuron's ground-truth *synonyms* (WWW's
  ground truth of a unit is the comma-separated synonym line of its ImageNet class), not over
  classes; F1 = their harmonic mean (0 when both are 0).  Precision, recall and F1 are each
  averaged over neurons (macro mean of per-neuron F1, not the F1 of the mean P and R);
- CLIP / sentence cosine: per neuron the mean cosine over all (selected, synonym) pairs, then
  the mean over neurons (WWW: CLIP ViT-B/16 text encoder and ``all-mpnet-base-v2``).

Deliberate differences from WWW's code: whitespace is stripped and duplicate concepts (after
normalisation) are counted once (WWW counts duplicates in the precision denominator); an empty
description scores 0 for hit/precision/recall/F1 and ``empty_cosine`` (default 0.0) for the
cosines, where WWW substitutes the word ``"none"`` and embeds it; the standard error uses the
sample standard deviation (``ddof=1``) where WWW uses ``np.std`` (``ddof=0``) -- pass
``ddof=0`` to reproduce their numbers.

Interface: descriptions, ground truth and rankings are mappings keyed by a neuron key, normally
``(layer, unit)``; :func:`synonyms_by_neuron` and :func:`concepts_by_neuron` build them from
DataFrames with columns ``layer``, ``unit`` and a concept column.  Rates are fractions in
[0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

import numpy as np
from scipy import sparse

Embed = Callable[[list[str]], np.ndarray]
"""Text encoder: n strings -> (n, d) array of L2-normalised embeddings."""

_ROW_CHUNK_CELLS = 1 << 24  # cells of a (rows, concepts) block in ground_truth_ranks


# --------------------------------------------------------------------------- matching


def cached_embedder(embed: Embed) -> Embed:
    """``embed`` with a memory of the texts it has embedded: each distinct text is embedded
    once per process however many methods, layers and metrics ask for it."""
    cache: dict[str, np.ndarray] = {}

    def embed_cached(texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        new = list(dict.fromkeys(t for t in texts if t not in cache))
        if new:
            cache.update(zip(new, np.asarray(embed(new))))
        if not texts:
            return np.asarray(embed([]))
        return np.stack([cache[t] for t in texts])

    return embed_cached


def normalize_concept(text: str) -> str:
    """Canonical form used for matching: surrounding whitespace stripped, lower case."""
    return str(text).strip().lower()


def normalize_concepts(texts: Iterable[str]) -> list[str]:
    """Distinct normalised concepts in first-seen order; empty strings dropped."""
    return list(dict.fromkeys(c for c in map(normalize_concept, texts) if c))


def hit(selected: Iterable[str], synonyms: Iterable[str]) -> bool:
    """Whether any selected concept equals any synonym (case-insensitive, stripped)."""
    syn = set(normalize_concepts(synonyms))
    return any(c in syn for c in normalize_concepts(selected))


def precision_recall_f1(selected: Iterable[str], synonyms: Iterable[str]
                        ) -> tuple[float, float, float]:
    """Per-neuron (precision, recall, F1) of a description against its synonyms.

    precision = |S ∩ G| / |S|, recall = |S ∩ G| / |G| (S: distinct selected concepts, G:
    distinct ground-truth synonyms; both 0 when the set is empty), F1 = 2pr / (p + r), 0 when
    p + r = 0.  Same as WWW's ``compute_pr`` up to whitespace stripping and de-duplication.
    """
    sel = normalize_concepts(selected)
    syn = normalize_concepts(synonyms)
    common = len(set(sel) & set(syn))
    p = common / len(sel) if sel else 0.0
    r = common / len(syn) if syn else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f1


# --------------------------------------------------------------------------- statistics


def standard_error(values: Iterable[float], ddof: int = 1) -> float:
    """Standard error of the mean: std(values, ddof) / sqrt(n); 0.0 for n < 2.

    ``ddof=1`` (default) is the sample standard deviation; WWW's code uses ``ddof=0``.
    """
    v = np.asarray(values if isinstance(values, np.ndarray) else list(values),
                   dtype=np.float64).ravel()
    if v.size < 2 or v.size <= ddof:
        return 0.0
    return float(np.std(v, ddof=ddof) / math.sqrt(v.size))


# --------------------------------------------------------------------------- cosines


def clip_cosine(selected_embeddings: np.ndarray, synonym_embeddings: np.ndarray) -> float:
    """Mean cosine over all (selected, synonym) pairs of one neuron.

    selected_embeddings: (s, d), synonym_embeddings: (g, d), rows already L2-normalised.
    Returns the mean of the (s, g) cosine matrix clipped to [-1, 1]; NaN when s or g is 0.
    """
    a = np.asarray(selected_embeddings, dtype=np.float64)
    b = np.asarray(synonym_embeddings, dtype=np.float64)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return float("nan")
    return float(np.clip(a @ b.T, -1.0, 1.0).mean())


def _averaging_matrix(lists: Sequence[Sequence[str]], index: Mapping[str, int], width: int
                      ) -> sparse.csr_matrix:
    """(n, width) sparse matrix whose row i averages the columns of ``lists[i]``."""
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    cols = np.fromiter((index[c] for x in lists for c in x), dtype=np.int64,
                       count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(lists)), lengths)
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    return sparse.csr_matrix((weights, (rows, cols)), shape=(len(lists), width))


def mean_pair_cosine(selected_lists: Sequence[Iterable[str]],
                     synonym_lists: Sequence[Iterable[str]], embed: Embed) -> np.ndarray:
    """Per-neuron mean cosine over all (selected, synonym) pairs, for n neurons at once.

    selected_lists, synonym_lists: n lists of strings.  embed: list of m strings -> (m, d)
    L2-normalised embeddings (the CLIP text encoder or a sentence model); it is called once,
    on the distinct normalised strings of all neurons.  Returns (n,) float64; NaN where a
    neuron's selected or synonym list is empty.  Uses mean_ij <a_i, b_j> = <mean a, mean b>,
    so the cost is one sparse averaging product instead of n cosine matrices; the result is
    clipped to [-1, 1] (WWW clips each pair at 1, which only differs by rounding).
    """
    if len(selected_lists) != len(synonym_lists):
        raise ValueError(f"{len(selected_lists)} selected lists but "
                         f"{len(synonym_lists)} synonym lists")
    sel = [normalize_concepts(x) for x in selected_lists]
    syn = [normalize_concepts(x) for x in synonym_lists]
    out = np.full(len(sel), np.nan)
    vocab = list(dict.fromkeys(c for lists in (sel, syn) for x in lists for c in x))
    if not vocab:
        return out
    emb = np.asarray(embed(vocab), dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != len(vocab):
        raise ValueError(f"embed returned shape {emb.shape} for {len(vocab)} strings")
    index = {c: i for i, c in enumerate(vocab)}
    mean_sel = _averaging_matrix(sel, index, len(vocab)) @ emb  # (n, d)
    mean_syn = _averaging_matrix(syn, index, len(vocab)) @ emb  # (n, d)
    valid = np.array([bool(a) and bool(b) for a, b in zip(sel, syn)], dtype=bool)
    cos = np.einsum("ij,ij->i", np.asarray(mean_sel), np.asarray(mean_syn))
    out[valid] = np.clip(cos[valid], -1.0, 1.0)
    return out


# --------------------------------------------------------------------------- rankings


def topk_accuracy(ranked_concepts: Iterable[str], synonyms: Iterable[str], k: int) -> bool:
    """Whether any of the first ``k`` concepts of the full ranking is a synonym."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    syn = set(normalize_concepts(synonyms))
    return any(normalize_concept(c) in syn for c in islice(ranked_concepts, k))


def ground_truth_rank(ranked_concepts: Iterable[str], synonyms: Iterable[str]) -> float:
    """1-based best rank of any synonym in the full ranking; NaN when none is in it."""
    syn = set(normalize_concepts(synonyms))
    for rank, concept in enumerate(ranked_concepts, start=1):
        if normalize_concept(concept) in syn:
            return float(rank)
    return float("nan")


def ground_truth_ranks(scores: np.ndarray, concepts: Sequence[str],
                       synonym_lists: Sequence[Iterable[str]]) -> np.ndarray:
    """Vectorised :func:`ground_truth_rank` from a score matrix, without sorting rows.

    scores: (n_neurons, n_concepts), higher = better (NaN counts as lowest); concepts:
    (n_concepts,) names of the columns; synonym_lists: n_neurons lists of synonyms.  The
    ranking of a row is the stable descending order of its scores (ties broken by column
    index), so rank = 1 + #(higher scores) + #(equal scores in earlier columns) of the
    best-scored synonym column.  Returns (n_neurons,) float64; NaN where no synonym is among
    the concepts.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(concepts) or s.shape[0] != len(synonym_lists):
        raise ValueError(f"scores {s.shape} does not match {len(synonym_lists)} neurons x "
                         f"{len(concepts)} concepts")
    s = np.where(np.isnan(s), -np.inf, s)
    n, c = s.shape
    columns: dict[str, list[int]] = {}
    for j, name in enumerate(concepts):
        columns.setdefault(normalize_concept(name), []).append(j)
    pairs = [(i, j) for i, syns in enumerate(synonym_lists)
             for name in normalize_concepts(syns) for j in columns.get(name, ())]
    ranks = np.full(n, np.nan)
    if not pairs:
        return ranks
    rows, cols = np.asarray(pairs, dtype=np.int64).T
    chunk = max(1, _ROW_CHUNK_CELLS // max(c, 1))
    col_index = np.arange(c)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        sel = (rows >= start) & (rows < stop)
        mask = np.zeros((stop - start, c), dtype=bool)
        mask[rows[sel] - start, cols[sel]] = True
        has = np.flatnonzero(mask.any(axis=1))
        if has.size == 0:
            continue
        block = s[start:stop][has]  # (h, c)
        best = np.nanargmax(np.where(mask[has], block, np.nan), axis=1)  # first best synonym
        best_score = block[np.arange(has.size), best][:, None]
        higher = (block > best_score).sum(axis=1)
        ties_before = ((block == best_score) & (col_index[None, :] < best[:, None])).sum(axis=1)
        ranks[start + has] = 1 + higher + ties_before
    return ranks


# --------------------------------------------------------------------------- tables


def _as_list(value: Any, sep: str) -> list[str]:
    """A concept cell as a list: a ``sep``-joined string is split, a sequence is listed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [part for part in value.split(sep) if part.strip()]
    return [str(v) for v in value]


def synonyms_by_neuron(frame: Any, column: str = "synonyms", sep: str = "|"
                       ) -> dict[tuple[str, int], list[str]]:
    """{(layer, unit): synonyms} from a table with columns layer, unit and ``column``.

    ``frame`` is a pandas DataFrame (or any mapping of equal-length columns); cells are lists
    or ``sep``-joined strings (the ground-truth table stores ``"ring|annulus|donut"``).
    """
    return {(str(layer), int(unit)): _as_list(value, sep)
            for layer, unit, value in zip(frame["layer"], frame["unit"], frame[column])}


def concepts_by_neuron(frame: Any, column: str = "concepts", sep: str = "|"
                       ) -> dict[tuple[str, int], list[str]]:
    """{(layer, unit): ranked concepts} from a descriptions table (see synonyms_by_neuron)."""
    return synonyms_by_neuron(frame, column=column, sep=sep)


# --------------------------------------------------------------------------- evaluation


def neuron_scores(descriptions: Mapping[Hashable, Sequence[str]],
                  ground_truth: Mapping[Hashable, Sequence[str]],
                  embed_clip: Embed | None = None, embed_sentence: Embed | None = None,
                  rankings: Mapping[Hashable, Sequence[str]] | None = None,
                  ranks: Mapping[Hashable, float] | None = None,
                  empty_cosine: float = 0.0) -> dict[str, Any]:
    """Per-neuron scores of the described neurons that have ground truth.

    Returns {"key": [neuron keys], "hit", "precision", "recall", "f1": (n,) arrays, plus
    "clip_cos" / "sentence_cos" when the embed callable is given and "rank" (1-based, NaN when
    no synonym is ranked) when ``rankings`` (full ranked concept lists) or ``ranks``
    (precomputed, e.g. by :func:`ground_truth_ranks`) are given}.  A neuron with ground truth
    but an empty description gets 0 everywhere and ``empty_cosine`` as its cosines.
    """
    if rankings is not None and ranks is not None:
        raise ValueError("give rankings or ranks, not both")
    keys = [k for k in descriptions if normalize_concepts(ground_truth.get(k, ()))]
    selected = [list(descriptions[k]) for k in keys]
    synonyms = [list(ground_truth[k]) for k in keys]
    prf = np.array([precision_recall_f1(s, g) for s, g in zip(selected, synonyms)],
                   dtype=np.float64).reshape(len(keys), 3)
    out: dict[str, Any] = {
        "key": keys,
        "hit": np.array([hit(s, g) for s, g in zip(selected, synonyms)], dtype=np.float64),
        "precision": prf[:, 0], "recall": prf[:, 1], "f1": prf[:, 2],
    }
    for name, embed in (("clip_cos", embed_clip), ("sentence_cos", embed_sentence)):
        if embed is not None:
            cos = mean_pair_cosine(selected, synonyms, embed)
            out[name] = np.where(np.isnan(cos), empty_cosine, cos)
    if rankings is not None or ranks is not None:
        missing = [k for k in keys if k not in (rankings if rankings is not None else ranks)]
        if missing:
            raise KeyError(f"no ranking for {len(missing)} evaluated neurons, e.g. {missing[0]}")
        if rankings is not None:
            out["rank"] = np.array([ground_truth_rank(rankings[k], g)
                                    for k, g in zip(keys, synonyms)], dtype=np.float64)
        else:
            out["rank"] = np.array([ranks[k] for k in keys], dtype=np.float64)
    return out


def _mean_se(values: np.ndarray, ddof: int) -> tuple[float, float]:
    if values.size == 0:
        return float("nan"), 0.0
    return float(values.mean()), standard_error(values, ddof=ddof)


def evaluate_descriptions(descriptions: Mapping[Hashable, Sequence[str]],
                          ground_truth: Mapping[Hashable, Sequence[str]],
                          embed_clip: Embed | None = None, embed_sentence: Embed | None = None,
                          rankings: Mapping[Hashable, Sequence[str]] | None = None,
                          ranks: Mapping[Hashable, float] | None = None,
                          ks: Sequence[int] = (1, 5), ddof: int = 1,
                          empty_cosine: float = 0.0) -> dict[str, float]:
    """Summary metrics over the described neurons that have ground truth.

    descriptions: {key: ranked selected concepts}, normally key = (layer, unit); neurons
    without ground truth (absent or empty synonym list) are skipped, and ground-truth neurons
    absent from ``descriptions`` are not counted.  ground_truth: {key: synonyms}.
    embed_clip / embed_sentence: list of m strings -> (m, d) normalised embeddings; the
    matching cosine metric is skipped when None.  rankings: {key: full ranked concept list}
    or ranks: {key: 1-based best synonym rank} -> ``top{k}`` for k in ``ks`` (a neuron whose
    synonyms are not ranked counts as a miss) and ``mean_rank`` over the neurons with a
    finite rank (``n_ranked`` of them).

    Returns floats: hit_rate, precision, recall, f1, [clip_cos], [sentence_cos], [top1, top5,
    mean_rank], each with ``<name>_se`` (standard error, ``ddof`` as in
    :func:`standard_error`), plus n_neurons [and n_ranked].  Rates are fractions in [0, 1];
    means are NaN when no neuron is evaluated.
    """
    scores = neuron_scores(descriptions, ground_truth, embed_clip, embed_sentence,
                           rankings, ranks, empty_cosine)
    result: dict[str, float] = {}
    columns = [("hit_rate", "hit"), ("precision", "precision"), ("recall", "recall"),
               ("f1", "f1"), ("clip_cos", "clip_cos"), ("sentence_cos", "sentence_cos")]
    for name, column in columns:
        if column in scores:
            result[name], result[f"{name}_se"] = _mean_se(scores[column], ddof)
    if "rank" in scores:
        rank = scores["rank"]
        finite = rank[np.isfinite(rank)]
        for k in ks:
            hits_k = np.where(np.isfinite(rank), rank <= k, False).astype(np.float64)
            result[f"top{k}"], result[f"top{k}_se"] = _mean_se(hits_k, ddof)
        result["mean_rank"], result["mean_rank_se"] = _mean_se(finite, ddof)
        result["n_ranked"] = int(finite.size)
    result["n_neurons"] = len(scores["key"])
    return result


# ------------------------------------------------------------------ precomputed embeddings


def metric_vocabulary(concepts: Iterable[str], ground_truth_texts: Iterable[str],
                      imported: Iterable[Any] = ()) -> list[str]:
    """Every distinct normalised string a metrics job can embed: the concept set's lines,
    the texts the ground truth can name (:func:`conceptlens.ground_truth.ground_truth_texts`)
    and the imported descriptions' concepts (``concepts`` column), in first-seen order."""
    texts = list(concepts) + list(ground_truth_texts)
    for frame in imported:
        texts += [c for cs in concepts_by_neuron(frame).values() for c in cs]
    return normalize_concepts(texts)


def lookup_embedder(texts: Sequence[str], embeddings: np.ndarray, source: str) -> Embed:
    """An Embed over precomputed rows: ``embeddings[i]`` (d,) is the embedding of
    ``texts[i]``.  A string that is not among ``texts`` is an error naming it and ``source``
    (the file the embeddings came from)."""
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(texts) != embeddings.shape[0]:
        raise ValueError(f"{source}: {len(texts)} texts but embeddings of shape "
                         f"{embeddings.shape}")
    index = {t: i for i, t in enumerate(texts)}

    def embed(wanted: Sequence[str]) -> np.ndarray:
        missing = [t for t in wanted if t not in index]
        if missing:
            raise KeyError(f"{source} has no embedding of {missing[0]!r} "
                           f"({len(missing)} text(s) missing)")
        rows = np.fromiter((index[t] for t in wanted), dtype=np.int64, count=len(wanted))
        return embeddings[rows]

    return embed
