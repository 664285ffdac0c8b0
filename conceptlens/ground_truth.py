"""Planted ground truth of neurons of the world target.

- fc unit ``i`` <-> class ``i``'s shape name and its synonyms.
- Any other layer: for each channel and each attribute value (main object's shape, color,
  texture; the background), the AUROC of the channel's activation for predicting that
  value on the probe set.  A channel's concept is the value with the highest AUROC, kept
  where that AUROC reaches the threshold.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from conceptlens.io.ground_truth import COLUMNS
from conceptlens.world.vocabulary import WorldVocabulary, attribute_synonyms, synonyms_of


def auroc_matrix(activations: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUROC of every neuron for every binary label, by the rank-sum formula.

    activations: (n_images, n_neurons); labels: (n_images, n_labels) bool.
    Returns (n_neurons, n_labels); NaN for a label with no positive or no negative.
    Ties get average ranks, so a constant neuron scores 0.5.
    """
    ranks = rankdata(activations, axis=0)  # (n_images, n_neurons), average ranks for ties
    pos = labels.astype(np.float64)
    n_pos = pos.sum(axis=0)  # (n_labels,)
    n_neg = len(labels) - n_pos
    rank_sum = ranks.T @ pos  # (n_neurons, n_labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc[:, (n_pos == 0) | (n_neg == 0)] = np.nan
    return auc


def attribute_labels(attributes: pd.DataFrame, vocab: WorldVocabulary | None = None
                     ) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """One-hot labels (n_images, n_values) over all (attribute, value) pairs."""
    vocab = vocab or WorldVocabulary()
    pairs = [(attr, value) for attr, values in vocab.attribute_values().items() for value in values]
    labels = np.stack([(attributes[attr] == value).to_numpy() for attr, value in pairs], axis=1)
    return labels, pairs


def channel_ground_truth(layer: str, activations: np.ndarray, attributes: pd.DataFrame,
                         threshold: float, vocab: WorldVocabulary | None = None) -> pd.DataFrame:
    """Ground truth of the channels of ``layer`` whose best AUROC reaches ``threshold``."""
    labels, pairs = attribute_labels(attributes, vocab)
    auc = auroc_matrix(activations, labels)
    best = np.nanargmax(np.nan_to_num(auc, nan=-1.0), axis=1)
    best_auc = auc[np.arange(len(best)), best]
    keep = np.flatnonzero(best_auc >= threshold)
    return pd.DataFrame({
        "layer": layer,
        "unit": keep,
        "concept": [pairs[best[u]][1] for u in keep],
        "synonyms": ["|".join(synonyms_of(pairs[best[u]][1])) for u in keep],
        "attribute": [pairs[best[u]][0] for u in keep],
        "auroc": best_auc[keep],
        "source": "auroc",
    }, columns=COLUMNS)


def class_ground_truth(layer: str, classes: list[str], activations: np.ndarray | None = None,
                       attributes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ground truth of the output units: unit ``i`` is class ``i``.

    With activations (logits) and the attribute table, the AUROC of each unit for its own
    class is recorded too.
    """
    auroc = np.full(len(classes), np.nan)
    if activations is not None and attributes is not None:
        labels = np.stack([(attributes["shape"] == c).to_numpy() for c in classes], axis=1)
        auroc = np.diagonal(auroc_matrix(activations, labels)).copy()
    return pd.DataFrame({
        "layer": layer,
        "unit": np.arange(len(classes)),
        "concept": classes,
        "synonyms": ["|".join(synonyms_of(c)) for c in classes],
        "attribute": "shape",
        "auroc": auroc,
        "source": "class",
    }, columns=COLUMNS)


def neuron_ground_truth(layer_activations: dict[str, np.ndarray], attributes: pd.DataFrame,
                        classes: list[str], threshold: float, output_layer: str = "fc"
                        ) -> pd.DataFrame:
    """The ground-truth table of all layers: class names for ``output_layer``, AUROC else."""
    tables = []
    for layer, acts in layer_activations.items():
        if layer == output_layer:
            tables.append(class_ground_truth(layer, classes, acts, attributes))
        else:
            tables.append(channel_ground_truth(layer, acts, attributes, threshold))
    return pd.concat(tables, ignore_index=True)


def output_layer_name(model) -> str:
    """Name of the classifier layer of a model: its last ``nn.Linear`` module."""
    from torch import nn

    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no linear classifier layer")
    return names[-1]


def ground_truth_texts(world_target: bool, class_synonyms: list[list[str]] | None = None,
                       classes: list[str] | None = None) -> list[str]:
    """Every text a ground-truth table of the target can name (its ``synonyms`` cells),
    known before the table is computed: the world target's are the synonyms of every
    attribute value (:func:`~conceptlens.world.vocabulary.attribute_synonyms`; its classes
    are shapes); a real classifier's are its class synonyms (``class_synonyms``, from a
    class-names file) or else its ``classes``.  In first-seen order, without repeats."""
    if world_target:
        return attribute_synonyms()
    if class_synonyms is not None:
        return list(dict.fromkeys(s for syns in class_synonyms for s in syns))
    return list(dict.fromkeys(classes or []))


def read_ground_truth_texts(world_target: bool, sources: list[str | os.PathLike]) -> list[str]:
    """:func:`ground_truth_texts` from the files the workflow has before the ground-truth
    table: none for the world target; else a class-names file, or the target summary
    (``activations/target.json``, its class names) where the target has no such file."""
    if world_target:
        return ground_truth_texts(True)
    if len(sources) != 1:
        raise ValueError(f"the ground truth's texts come from one file, got {list(sources)}")
    if Path(sources[0]).suffix == ".json":
        from conceptlens.io.activations import load_target_summary

        return ground_truth_texts(False, classes=load_target_summary(sources[0])["classes"])
    from conceptlens.io.concepts import read_class_synonyms

    return ground_truth_texts(False, class_synonyms=read_class_synonyms(sources[0]))


def synonym_ground_truth(layer: str, synonyms: list[list[str]], activations: np.ndarray | None,
                         labels: np.ndarray | None) -> pd.DataFrame:
    """Ground truth of a real classifier's output units: unit ``i`` is class ``i`` named by
    its first synonym.  With the probe's class ``labels`` (n_images,; -1 = unknown) and
    the units' ``activations`` (n_images, n_classes), each unit's AUROC for its own class
    is recorded (NaN where the probe set has no image of the class)."""
    n = len(synonyms)
    auroc = np.full(n, np.nan)
    if activations is not None and labels is not None and (labels >= 0).any():
        if activations.shape[1] != n:
            raise ValueError(f"layer {layer}: {activations.shape[1]} units but {n} class names")
        known = labels >= 0
        onehot = labels[known, None] == np.arange(n)[None, :]
        auroc = np.diagonal(auroc_matrix(activations[known], onehot)).copy()
    return pd.DataFrame({
        "layer": layer, "unit": np.arange(n), "concept": [s[0] for s in synonyms],
        "synonyms": ["|".join(s) for s in synonyms], "attribute": "class", "auroc": auroc,
        "source": "class",
    }, columns=COLUMNS)
