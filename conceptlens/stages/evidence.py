"""Stages of rules ``evidence`` and ``evidence_check``: evidence for every description
without ground truth (the protocol: :mod:`conceptlens.evidence`), its summary per method
and layer, and, where there is ground truth, how well the evidence tells hits from misses.

Embeddings, top-k sets, activations and descriptions shared by several steps load once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens import methods
from conceptlens.evidence import (
    EVIDENCE_COLUMNS,
    SCORES,
    agreement,
    concept_predictions,
    evidence_flags,
    layer_evidence,
    selection_half,
    spearman_matrix,
)
from conceptlens.progress import progress
from conceptlens.tuning import resolve_kappa

_LOG = logging.getLogger(__name__)
#: columns of :func:`evidence_summary`
SUMMARY_COLUMNS = ("method", "layer", "neurons", "simulation_pearson_median",
                   "contrast_auc_median", "beats_shuffled_fraction", "heldout_agrees_fraction",
                   "agreement_mean")
#: columns of :func:`evidence_check`
CHECK_COLUMNS = ("method", "layer", "n_hits", "n_misses",
                 *(f"{s}_auroc" for s in SCORES), *(f"{s}_f1_spearman" for s in SCORES),
                 *(f"heldout_{s}_auroc" for s in ("simulation_pearson", "contrast_auc")),
                 "hit_rate_beats_shuffled", "hit_rate_below_shuffled")
#: scores also given for the description chosen again on the selection half
HELDOUT_SCORES = ("simulation_pearson", "contrast_auc")
#: the image set the evaluation half is scored on (the full view, every probe image)
EVALUATION_SET = "full.all"


class _Loaders:
    """The cached loaders of one :func:`evidence_plan` call."""

    def __init__(self):
        from conceptlens.io.activations import load_activations
        from conceptlens.io.descriptions import load_description_table
        from conceptlens.io.embeddings import load_image_embeddings, load_text_embeddings
        from conceptlens.io.topk import load_topk

        self.text = cache(load_text_embeddings)
        self.images = cache(load_image_embeddings)
        self.activations = cache(lambda path: load_activations(path)[0])
        self.half_topk = cache(lambda path: load_topk(path, half=True)[0])
        self.descriptions = cache(lambda path: load_description_table(path)
                                  .set_index("unit").sort_index())
        self.stability = cache(_stability_by_unit)


def _stability_by_unit(path: str) -> pd.DataFrame:
    """Per (layer, unit) of a stability parquet: ``stable_k`` (its ``top1_*`` columns all
    True: the top-1 label is the same at every k) and ``subsample_top1`` (the mean of its
    ``subsample_top1_seed*`` columns)."""
    frame = pd.read_parquet(path)
    missing = {"layer", "unit"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: not a stability table, missing {sorted(missing)}")
    top1 = [c for c in frame.columns if c.startswith("top1_")]
    seeds = [c for c in frame.columns if c.startswith("subsample_top1_seed")]
    out = pd.DataFrame({"layer": frame["layer"].astype(str), "unit": frame["unit"].astype(int)})
    out["stable_k"] = (frame[top1].astype(bool).all(axis=1).astype("boolean") if top1
                       else pd.array([pd.NA] * len(frame), dtype="boolean"))
    out["subsample_top1"] = (frame[seeds].astype(float).mean(axis=1) if seeds
                             else np.full(len(frame), np.nan))
    return out.set_index(["layer", "unit"])


def heldout_choice(step: Mapping, loaders: _Loaders | None = None,
                   log: logging.Logger = _LOG) -> np.ndarray | None:
    """The held-out description of every neuron of one plan step: (n_neurons,) indices into
    the step's concept set, the top-1 of the method's own scoring on the selection half
    only (top-k families: each neuron's top-k within the half, from the top-k file; other
    families: the half's rows of the activations and of the method's image set), with its
    settings fitted to the half's size (:func:`conceptlens.methods.fit_to_probe`; each
    change logged).  None (logged) where the method still cannot score the half."""
    import torch

    from conceptlens.methods import LayerInputs, rows_of

    loaders = loaders or _Loaders()
    files = step["inputs"]
    settings = resolve_kappa(step["method"], step["settings"], files.get("tuning"))
    _, text_emb, template_emb = loaders.text(files["text"], step["template"])
    image_ids, image_emb = loaders.images(files["images"], step["image_set"])
    reads = methods.reads(settings)
    tensors = (torch.from_numpy(text_emb), torch.from_numpy(template_emb))
    n_images = len(loaders.activations(files["full_activations"]
                                       if reads == "topk" else files["activations"]))
    half = selection_half(n_images)
    fitted, notes = methods.fit_to_probe({step["method"]: settings}, int(half.sum()))
    settings = fitted[step["method"]]
    for note in notes:
        log.info("%s: on the selection half of %s: %s", step["method"], step["layer"], note)
    if reads == "topk":
        indices = loaders.half_topk(files["topk"])
        if indices.size and (indices.max() >= n_images or not half[indices].all()):
            raise ValueError(f"{files['topk']}: its half top-k sets are not within the "
                             f"selection half of the {n_images} probe images")
        size = methods.topk_size(settings)
        if size:
            indices = indices[:, :min(size, indices.shape[1])]
        inputs = LayerInputs(image_ids, torch.from_numpy(image_emb), *tensors, topk=indices)
    elif reads == "activations":
        acts = loaders.activations(files["activations"])
        chosen = np.flatnonzero(half)
        rows = rows_of(image_ids, chosen)
        inputs = LayerInputs(np.arange(len(chosen)), torch.from_numpy(image_emb[rows]),
                             *tensors, activations=np.ascontiguousarray(acts[chosen]))
    else:
        raise ValueError(f"{step['method']}: the evidence stage cannot choose on the "
                         f"selection half for a family that reads {reads!r}")
    try:
        scores = methods.score(settings, inputs).scores
    except ValueError as err:  # the method's own check of its inputs, e.g. too few images
        log.warning("%s %s: cannot choose on the selection half (%s); no held-out evidence",
                    step["method"], step["layer"], err)
        return None
    return scores.argmax(dim=1).cpu().numpy()


def _evidence_step(step: Mapping, contrast_fraction: float, significance: float,
                   simulation_fraction: float,
                   stability: Mapping[str, str] | None, loaders: _Loaders,
                   log: logging.Logger) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """The evidence of one method on one layer, one row per neuron (``agreement`` NaN and
    ``flags`` empty: they need the other methods, :func:`evidence_plan` fills them); bool
    (n_neurons,): the neuron's activation is constant on the evaluation half; whether the
    method could choose on the selection half (if not: every score NaN)."""
    from conceptlens.methods import rows_of

    settings, layer, files = step["settings"], str(step["layer"]), step["inputs"]
    concepts, text_emb, template_emb = loaders.text(files["text"], step["template"])
    acts = loaders.activations(files["full_activations"])
    n_images, n_neurons = acts.shape
    heldout = heldout_choice(step, loaders, log)
    chosen = heldout is not None
    if not chosen:
        heldout = np.zeros(n_neurons, np.int64)  # a placeholder, its scores blanked below
    if len(heldout) != n_neurons:
        raise ValueError(f"{step['method']} {layer}: {len(heldout)} neurons chosen on the "
                         f"selection half, {n_neurons} in {files['full_activations']}")
    evaluation = np.flatnonzero(~selection_half(n_images))
    image_ids, image_emb = loaders.images(files["images"], EVALUATION_SET)
    if len(image_ids) != n_images:
        raise ValueError(f"{files['images']}: image set {EVALUATION_SET} has "
                         f"{len(image_ids)} images, {files['full_activations']} {n_images}")
    described = loaders.descriptions(files["descriptions"]).reindex(np.arange(n_neurons))
    reported = described["concept"].to_numpy(dtype=object)
    index_of = {c: i for i, c in enumerate(concepts)}
    # the reported concepts (a concept the set does not hold: the held-out one's column)
    reported_ids = np.array([index_of.get(c, h) for c, h in zip(reported, heldout)],
                            dtype=np.int64)
    # the scores of the reported descriptions and of the held-out ones, over their labels
    labels, own = np.unique(np.concatenate([reported_ids, heldout]), return_inverse=True)
    own_reported, own_heldout = own[:n_neurons], own[n_neurons:]
    predictions = concept_predictions(image_emb[rows_of(image_ids, evaluation)],
                                      text_emb[labels], template_emb)
    eval_acts = acts[evaluation]
    scores = layer_evidence(eval_acts, predictions, own_reported,
                            contrast_fraction=contrast_fraction, significance=significance,
                            simulation_fraction=simulation_fraction)
    if chosen:
        of_heldout = layer_evidence(eval_acts, predictions, own_heldout,
                                    contrast_fraction=contrast_fraction,
                                    significance=significance,
                                    simulation_fraction=simulation_fraction)
        scores.update({f"heldout_{name}": of_heldout[name] for name in HELDOUT_SCORES})
    else:
        scores.update({f"heldout_{name}": np.full(n_neurons, np.nan)
                       for name in HELDOUT_SCORES})
    names = (np.asarray(concepts, dtype=object)[heldout] if chosen
             else np.full(n_neurons, None, dtype=object))
    weak = (described["weak"].fillna(False).astype(bool).to_numpy()
            if "weak" in described else np.zeros(n_neurons, bool))
    stable_k = pd.array([pd.NA] * n_neurons, dtype="boolean")
    subsample_top1 = np.full(n_neurons, np.nan)
    function = settings.get("function")
    if stability and function in stability:
        by_unit = loaders.stability(stability[function])
        index = pd.MultiIndex.from_arrays([[layer] * n_neurons, np.arange(n_neurons)])
        found = by_unit.reindex(index)
        stable_k = found["stable_k"].astype("boolean").array
        subsample_top1 = found["subsample_top1"].to_numpy(dtype=float)
    frame = pd.DataFrame({
        "method": step["method"], "layer": layer, "unit": np.arange(n_neurons),
        "concept": reported, "heldout_concept": names,
        "heldout_agrees": chosen & (names == reported), **scores,
        "agreement": np.nan, "weak": weak, "stable_k": stable_k,
        "subsample_top1": subsample_top1, "flags": "", "n_evaluation": len(evaluation)})
    frame["heldout_agrees"] = frame["heldout_agrees"].astype(bool)
    constant = (np.ptp(eval_acts, axis=0) == 0 if len(eval_acts)
                else np.ones(n_neurons, bool))
    if chosen and len(labels) < 2:
        log.warning("%s %s: a single distinct held-out label (%s), no shuffled baseline",
                    step["method"], layer, names[0] if len(names) else None)
    if len(evaluation) < 4:
        log.warning("%s %s: only %d evaluation images", step["method"], layer,
                    len(evaluation))
    log.info("%s %s: %d neurons, %d evaluation images, %d distinct held-out labels; held-out "
             "agrees %.1f%%, beats shuffled %.1f%%, median simulation r %.3f, median "
             "contrast AUC %.3f", step["method"], layer, n_neurons, len(evaluation),
             len(labels) if chosen else 0, 100 * frame["heldout_agrees"].mean(),
             100 * frame["beats_shuffled"].mean(), frame["simulation_pearson"].median(),
             frame["contrast_auc"].median())
    return frame, constant, chosen


def evidence_plan(plan: Sequence[Mapping], contrast_fraction: float = 0.1,
                  simulation_fraction: float = 0.1,
                  significance: float = 0.05, stability: Mapping[str, str] | None = None,
                  log: logging.Logger = _LOG) -> pd.DataFrame:
    """The evidence table of every step of ``plan``: one row per (method, layer, unit),
    columns :data:`conceptlens.evidence.EVIDENCE_COLUMNS`.

    A step is one method on one layer as in the describe stage (``method``, ``layer``,
    ``settings``, ``image_set``, ``template``, ``inputs``), its ``inputs`` holding ``text``,
    ``images``, the file its family reads (``topk`` or ``activations``),
    ``full_activations`` (``activations/full/<layer>.npz``) and ``descriptions`` (the
    reported descriptions table).  ``stability``: {CLIP-Dissect function: its stability
    parquet}.  ``agreement`` compares the methods of one concept set (the folder of their
    descriptions) on the same layer.
    """
    loaders = _Loaders()
    frames, constants, groups = [], [], {}
    for step in progress(plan, desc="evidence (method, layer)", unit="steps", log=log):
        frame, constant, chosen = _evidence_step(step, contrast_fraction, significance,
                                                 simulation_fraction,
                                                 stability, loaders, log)
        key = (str(Path(step["inputs"]["descriptions"]).parent.parent), str(step["layer"]))
        groups.setdefault(key, []).append(len(frames))
        frames.append(frame)
        constants.append((constant, chosen))
    for members in groups.values():
        units = sorted(set().union(*(frames[i]["unit"] for i in members)))
        reported = np.array([frames[i].set_index("unit")["concept"].reindex(units)
                             .to_numpy(dtype=object) for i in members], dtype=object)
        agree = agreement(reported)
        for row, i in enumerate(members):
            by_unit = pd.Series(agree[row], index=units)
            frames[i]["agreement"] = by_unit.reindex(frames[i]["unit"]).to_numpy()
    for frame, (constant, chosen) in zip(frames, constants):
        frame["flags"] = evidence_flags({
            **{c: frame[c].to_numpy(dtype=object) for c in
               ("beats_shuffled", "heldout_agrees", "weak", "agreement", "stable_k")},
            "constant_activation": constant, "no_heldout": np.full(len(frame), not chosen)})
    if not frames:
        return pd.DataFrame(columns=list(EVIDENCE_COLUMNS))
    evidence = pd.concat(frames, ignore_index=True)[list(EVIDENCE_COLUMNS)]
    evidence["stable_k"] = evidence["stable_k"].astype("boolean")
    return evidence


def evidence_summary(evidence: pd.DataFrame) -> pd.DataFrame:
    """Per (method, layer), in table order: ``neurons``, the medians of simulation Pearson
    and contrast AUC (NaN left out), the fractions of neurons that beat their shuffled
    baseline and whose held-out description agrees, and the mean agreement with the other
    methods (columns :data:`SUMMARY_COLUMNS`)."""
    if evidence.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    frame = evidence.assign(beats_shuffled=evidence["beats_shuffled"].astype(float),
                            heldout_agrees=evidence["heldout_agrees"].astype(float),
                            agreement=evidence["agreement"].astype(float))
    summary = frame.groupby(["method", "layer"], sort=False).agg(
        neurons=("unit", "size"),
        simulation_pearson_median=("simulation_pearson", "median"),
        contrast_auc_median=("contrast_auc", "median"),
        beats_shuffled_fraction=("beats_shuffled", "mean"),
        heldout_agrees_fraction=("heldout_agrees", "mean"),
        agreement_mean=("agreement", "mean"))
    return summary.reset_index()[list(SUMMARY_COLUMNS)]


def _auroc(hit: np.ndarray, score: np.ndarray) -> float:
    """AUROC of ``score`` at telling hits (1) from misses (0); NaN scores left out, NaN
    where a class is empty."""
    from sklearn.metrics import roc_auc_score

    keep = ~np.isnan(score)
    hit, score = hit[keep], score[keep]
    if not (hit == 1).any() or not (hit == 0).any():
        return float("nan")
    return float(roc_auc_score(hit, score))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two (n,) arrays over the rows where both are known; NaN
    where fewer than two or either is constant."""
    keep = ~(np.isnan(a) | np.isnan(b))
    if keep.sum() < 2:
        return float("nan")
    return float(spearman_matrix(a[keep, None], b[keep, None])[0, 0])


def evidence_check(evidence: pd.DataFrame | str | Path,
                   per_neuron: pd.DataFrame | str | Path,
                   log: logging.Logger = _LOG) -> pd.DataFrame:
    """How well the evidence tells right descriptions from wrong ones, where there is
    ground truth (``per_neuron``: the metrics' per-neuron table, columns ``method, layer,
    unit, hit`` (1 / 0, NaN without ground truth), ``f1``).  Per (method, layer) of
    ``evidence``: ``n_hits``, ``n_misses``, ``<score>_auroc`` (hits against misses; NaN
    where a class is empty), ``<score>_f1_spearman`` and the hit rate of the neurons that
    beat their shuffled baseline and of those that do not (columns :data:`CHECK_COLUMNS`).
    Either table may be given as a path."""
    from conceptlens.io.evidence import load_evidence
    from conceptlens.io.metrics import load_per_neuron

    if not isinstance(evidence, pd.DataFrame):
        evidence = load_evidence(evidence)
    if not isinstance(per_neuron, pd.DataFrame):
        per_neuron = load_per_neuron(per_neuron)
    truth = per_neuron.reindex(columns=["method", "layer", "unit", "hit", "f1"])
    truth = truth.assign(layer=truth["layer"].astype(str), unit=truth["unit"].astype(int),
                         hit=truth["hit"].astype(float), f1=truth["f1"].astype(float))
    truth = truth.dropna(subset=["hit"])
    ev = evidence.assign(layer=evidence["layer"].astype(str),
                         unit=evidence["unit"].astype(int))
    merged = ev.merge(truth, on=["method", "layer", "unit"], how="left")
    rows = []
    for (method, layer), group in merged.groupby(["method", "layer"], sort=False):
        hit = group["hit"].to_numpy(float)
        known = ~np.isnan(hit)
        hit, f1 = hit[known], group["f1"].to_numpy(float)[known]
        beats = group["beats_shuffled"].to_numpy(bool)[known]
        row = {"method": method, "layer": layer, "n_hits": int((hit == 1).sum()),
               "n_misses": int((hit == 0).sum())}
        for score in SCORES:
            row[f"{score}_auroc"] = _auroc(hit, group[score].to_numpy(float)[known])
        for score in SCORES:
            row[f"{score}_f1_spearman"] = _spearman(group[score].to_numpy(float)[known], f1)
        for score in HELDOUT_SCORES:
            row[f"heldout_{score}_auroc"] = _auroc(
                hit, group[f"heldout_{score}"].to_numpy(float)[known])
        row["hit_rate_beats_shuffled"] = float(hit[beats].mean()) if beats.any() else np.nan
        row["hit_rate_below_shuffled"] = (float(hit[~beats].mean()) if (~beats).any()
                                          else np.nan)
        rows.append(row)
        log.info("%s %s: %d hits, %d misses; AUROC simulation r %.3f, contrast AUC %.3f",
                 method, layer, row["n_hits"], row["n_misses"],
                 row["simulation_pearson_auroc"], row["contrast_auc_auroc"])
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
