"""Neuron ground truth: AUROC math and the planted-concept tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conceptlens.ground_truth import (
    auroc_matrix,
    channel_ground_truth,
    class_ground_truth,
    ground_truth_texts,
    neuron_ground_truth,
    read_ground_truth_texts,
    synonym_ground_truth,
)
from conceptlens.world.vocabulary import SHAPES, WorldVocabulary


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    acts = np.round(rng.normal(size=(200, 5)), 1)  # many ties
    labels = rng.random((200, 3)) < 0.3
    ours = auroc_matrix(acts, labels)
    for n in range(5):
        for k in range(3):
            assert ours[n, k] == pytest.approx(roc_auc_score(labels[:, k], acts[:, n]))


def test_auroc_hand_case_and_degenerate_labels():
    acts = np.array([[0.1], [0.4], [0.35], [0.8]])
    labels = np.array([[0, 1], [0, 1], [1, 1], [1, 1]], dtype=bool)
    auc = auroc_matrix(acts, labels)
    assert auc[0, 0] == pytest.approx(0.75)  # pairs (0.35>0.1), (0.35<0.4), (0.8>both)
    assert np.isnan(auc[0, 1])  # no negatives


def _attributes(n: int, rng) -> pd.DataFrame:
    return pd.DataFrame({
        "shape": rng.choice(SHAPES, n),
        "color": rng.choice(["red", "blue", "green"], n),
        "texture": rng.choice(["plain", "striped", "dotted"], n),
        "background": rng.choice(["night", "fog"], n),
    })


def test_channel_ground_truth_finds_planted_concepts_and_thresholds():
    rng = np.random.default_rng(1)
    attributes = _attributes(500, rng)
    noise = rng.normal(size=(500, 3))
    acts = np.stack([
        (attributes["color"] == "red").to_numpy() * 3.0 + noise[:, 0],  # red detector
        (attributes["shape"] == "ring").to_numpy() * 3.0 + noise[:, 1],  # ring detector
        noise[:, 2],  # nothing
    ], axis=1)
    table = channel_ground_truth("layer4", acts, attributes, threshold=0.85)
    assert list(table["unit"]) == [0, 1]
    assert list(table["concept"]) == ["red", "ring"]
    assert list(table["attribute"]) == ["color", "shape"]
    assert table.loc[1, "synonyms"] == "ring|annulus|donut"
    assert (table["auroc"] > 0.9).all()


def test_class_ground_truth_and_combined_table():
    rng = np.random.default_rng(2)
    attributes = _attributes(300, rng)
    logits = np.stack([(attributes["shape"] == s).to_numpy() * 2.0 for s in SHAPES], axis=1)
    logits += rng.normal(scale=0.5, size=logits.shape)
    fc = class_ground_truth("fc", list(SHAPES), logits, attributes)
    assert list(fc["concept"]) == list(SHAPES) and (fc["auroc"] > 0.95).all()
    table = neuron_ground_truth({"fc": logits, "layer4": logits[:, :2]}, attributes, list(SHAPES), 0.85)
    assert set(table["layer"]) == {"fc", "layer4"}
    assert (table.loc[table["layer"] == "fc", "source"] == "class").all()


def test_ground_truth_texts_hold_every_synonym_a_table_can_name():
    """The metric texts are embedded before the ground truth exists: every synonym of
    every table the target can get must be among ground_truth_texts."""
    rng = np.random.default_rng(3)
    vocab = WorldVocabulary()
    attributes = pd.DataFrame({attr: rng.choice(values, 400)
                               for attr, values in vocab.attribute_values().items()})
    # one channel detecting each attribute value, so that every value becomes ground truth
    pairs = [(a, v) for a, values in vocab.attribute_values().items() for v in values]
    acts = np.stack([(attributes[a] == v).to_numpy() * 3.0 for a, v in pairs], axis=1)
    logits = np.stack([(attributes["shape"] == s).to_numpy() * 1.0 for s in SHAPES], axis=1)
    table = neuron_ground_truth({"fc": logits, "layer4": acts + rng.normal(size=acts.shape)},
                                attributes, list(SHAPES), 0.85)
    assert set(table.loc[table["layer"] == "layer4", "concept"]) == {v for _, v in pairs}
    named = {s for cell in table["synonyms"] for s in cell.split("|")}
    texts = ground_truth_texts(world_target=True)
    assert named <= set(texts) and len(texts) == len(set(texts))
    assert {"annulus", "donut"} <= set(texts)

    synonyms = [["tench", "Tinca tinca"], ["goldfish"], ["crane"], ["crane"]]
    real = synonym_ground_truth("fc", synonyms, None, None)
    real_named = {s for cell in real["synonyms"] for s in cell.split("|")}
    assert real_named == set(ground_truth_texts(False, class_synonyms=synonyms))
    assert ground_truth_texts(False, classes=["cat", "dog", "cat"]) == ["cat", "dog"]


def test_the_ground_truth_texts_are_read_from_the_class_names_or_the_target_summary(tmp_path):
    from conceptlens.io.activations import save_target_summary

    names = tmp_path / "imagenet.txt"
    names.write_text("tench, Tinca tinca\ngoldfish, Carassius auratus\n")
    assert read_ground_truth_texts(False, [names]) == ["tench", "Tinca tinca", "goldfish",
                                                       "Carassius auratus"]
    summary = tmp_path / "target.json"
    save_target_summary(summary, ["cat", "dog"], "fc", {"fc": 2})
    assert read_ground_truth_texts(False, [summary]) == ["cat", "dog"]
    assert read_ground_truth_texts(True, []) == ground_truth_texts(True)
    with pytest.raises(ValueError, match="from one file"):
        read_ground_truth_texts(False, [])
