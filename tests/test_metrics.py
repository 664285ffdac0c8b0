"""Description metrics on hand cases, and the sentence model (bundled and offline-named)."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pandas as pd
import pytest

from conceptlens import metrics as m
from conceptlens.text_models import (
    OfflineModelError,
    bundled_model_path,
    embed_sentences,
    hub_reachable,
    load_sentence_model,
)

# --------------------------------------------------------------------------- matching


def test_hit_ignores_case_and_whitespace():
    assert m.hit(["car", " Annulus "], ["ring", "annulus", "donut"])
    assert m.hit(["RING"], ["ring"])
    assert not m.hit(["circle", "car"], ["ring", "annulus", "donut"])
    assert not m.hit([], ["ring"])
    assert not m.hit(["ring"], [])


def test_precision_recall_f1_hand_lists():
    assert m.precision_recall_f1(["Ring", "circle"], ["ring", "annulus"]) == (0.5, 0.5, 0.5)
    p, r, f1 = m.precision_recall_f1(["ring"], ["ring", "annulus", "donut"])
    assert (p, r) == (1.0, pytest.approx(1 / 3))
    assert f1 == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))  # 0.5
    assert m.precision_recall_f1(["car", "tree"], ["ring"]) == (0.0, 0.0, 0.0)
    assert m.precision_recall_f1([], ["ring"]) == (0.0, 0.0, 0.0)
    # duplicates after normalisation count once
    p, r, f1 = m.precision_recall_f1(["ring", " RING", "car"], ["ring"])
    assert (p, r, f1) == (0.5, 1.0, pytest.approx(2 / 3))


def test_standard_error():
    assert m.standard_error([1, 2, 3]) == pytest.approx(1 / math.sqrt(3))  # sample std = 1
    assert m.standard_error([1, 2, 3], ddof=0) == pytest.approx(math.sqrt(2 / 3) / math.sqrt(3))
    assert m.standard_error([5.0]) == 0.0
    assert m.standard_error([]) == 0.0


# --------------------------------------------------------------------------- rankings


def test_topk_and_rank():
    ranking = ["car", "Tree", "donut", "ring", "circle"]
    syn = ["ring", "annulus", "donut"]
    assert not m.topk_accuracy(ranking, syn, 1)
    assert not m.topk_accuracy(ranking, syn, 2)
    assert m.topk_accuracy(ranking, syn, 3)
    assert m.ground_truth_rank(ranking, syn) == 3.0
    assert m.ground_truth_rank(["ANNULUS", "car"], syn) == 1.0
    assert math.isnan(m.ground_truth_rank(["car", "tree"], syn))
    assert not m.topk_accuracy(["car", "tree"], syn, 5)
    with pytest.raises(ValueError):
        m.topk_accuracy(ranking, syn, 0)


def test_ground_truth_ranks_vectorised_matches_list_version():
    concepts = ["car", "ring", "donut", "circle", "Tree", "disc"]
    scores = np.array([
        [0.9, 0.1, 0.8, 0.3, 0.2, 0.0],     # donut is 2nd
        [0.1, 0.9, 0.2, 0.3, 0.4, 0.5],     # ring is 1st
        [0.5, 0.1, 0.1, 0.5, 0.9, 0.2],     # no synonym among the concepts -> NaN
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],     # all tied: stable order, ring at column 1 -> 2
        [np.nan, 0.1, 0.2, 0.3, 0.4, 0.5],  # NaN is lowest; tree (col 4) synonym -> rank 2
    ])
    synonyms = [["ring", "annulus", "donut"], ["ring"], ["star"], ["ring", "donut"], ["tree"]]
    ranks = m.ground_truth_ranks(scores, concepts, synonyms)
    np.testing.assert_array_equal(ranks, [2.0, 1.0, np.nan, 2.0, 2.0])
    for row, syn, rank in zip(scores, synonyms, ranks):
        order = np.argsort(-np.nan_to_num(row, nan=-np.inf), kind="stable")
        expected = m.ground_truth_rank([concepts[j] for j in order], syn)
        assert rank == expected or (math.isnan(rank) and math.isnan(expected))


def test_ground_truth_ranks_random_against_sorting():
    rng = np.random.default_rng(0)
    concepts = [f"c{j}" for j in range(40)]
    scores = rng.integers(0, 6, size=(25, 40)).astype(float)  # many ties
    synonyms = [[f"c{j}" for j in rng.choice(45, size=3, replace=False)] for _ in range(25)]
    ranks = m.ground_truth_ranks(scores, concepts, synonyms)
    for row, syn, rank in zip(scores, synonyms, ranks):
        expected = m.ground_truth_rank([concepts[j] for j in np.argsort(-row, kind="stable")], syn)
        assert rank == expected or (math.isnan(rank) and math.isnan(expected))


# --------------------------------------------------------------------------- cosines


def test_clip_cosine_hand_vectors():
    s = 1 / math.sqrt(2)
    selected = np.array([[1.0, 0.0], [0.0, 1.0]])
    synonyms = np.array([[1.0, 0.0], [s, s]])
    # pairs: 1, s, 0, s -> mean (1 + 2s) / 4
    assert m.clip_cosine(selected, synonyms) == pytest.approx((1 + 2 * s) / 4)
    assert m.clip_cosine(np.array([[0.0, 1.0]]), np.array([[0.0, -1.0]])) == pytest.approx(-1.0)
    assert math.isnan(m.clip_cosine(np.zeros((0, 2)), synonyms))


TOY_VECTORS = {  # unit vectors in 2-D, by normalised word
    "ring": (1.0, 0.0), "annulus": (0.6, 0.8), "car": (0.0, 1.0), "circle": (0.8, 0.6),
    "star": (-1.0, 0.0), "tree": (0.0, -1.0), "donut": (0.8, -0.6),
}


def toy_embed(texts: list[str]) -> np.ndarray:
    return np.array([TOY_VECTORS[t] for t in texts], dtype=np.float32)


def test_mean_pair_cosine_equals_per_neuron_clip_cosine_and_embeds_once():
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return toy_embed(texts)

    selected = [["Ring", "car"], ["star"], [], ["ring", "RING "]]
    synonyms = [["ring", "annulus"], ["ring"], ["ring"], ["circle"]]
    got = m.mean_pair_cosine(selected, synonyms, embed)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(set(calls[0]))
    for i in (0, 1, 3):
        sel = toy_embed(m.normalize_concepts(selected[i]))
        syn = toy_embed(m.normalize_concepts(synonyms[i]))
        assert got[i] == pytest.approx(m.clip_cosine(sel, syn))
    assert got[0] == pytest.approx((1 + 0.6 + 0 + 0.8) / 4)
    assert got[1] == pytest.approx(-1.0)
    assert math.isnan(got[2])
    assert got[3] == pytest.approx(0.8)


# --------------------------------------------------------------------------- evaluation


def test_evaluate_descriptions_toy():
    descriptions = {
        ("fc", 0): ["Ring", "car"],        # hit; p=1/2, r=1/2, f1=1/2
        ("fc", 1): ["tree"],               # miss; 0, 0, 0
        ("layer4", 2): ["circle", "ring"],  # hit; p=1/2, r=1, f1=2/3
        ("layer4", 9): ["ring"],           # no ground truth -> skipped
    }
    ground_truth = {("fc", 0): ["ring", "annulus"], ("fc", 1): ["star"],
                    ("layer4", 2): ["circle"], ("layer4", 9): []}
    rankings = {("fc", 0): ["ring", "car"], ("fc", 1): ["car", "tree", "ring", "annulus"],
                ("layer4", 2): ["car", "ring", "tree", "star", "annulus", "circle"]}
    res = m.evaluate_descriptions(descriptions, ground_truth, embed_clip=toy_embed,
                                  embed_sentence=toy_embed, rankings=rankings)
    assert res["n_neurons"] == 3
    assert res["hit_rate"] == pytest.approx(2 / 3)
    assert res["hit_rate_se"] == pytest.approx(m.standard_error([1, 0, 1]))
    assert res["precision"] == pytest.approx(1 / 3)
    assert res["recall"] == pytest.approx(0.5)
    assert res["f1"] == pytest.approx((0.5 + 0 + 2 / 3) / 3)
    cos = [(1 + 0.6 + 0 + 0.8) / 4, 0.0, (0.8 + 1.0) / 2]  # tree . star = 0
    assert res["clip_cos"] == pytest.approx(np.mean(cos))
    assert res["sentence_cos"] == res["clip_cos"]
    assert res["clip_cos_se"] == pytest.approx(m.standard_error(cos))
    # ranks: 1, NaN (star not ranked), 6
    assert res["top1"] == pytest.approx(1 / 3)
    assert res["top5"] == pytest.approx(1 / 3)
    assert res["mean_rank"] == pytest.approx(3.5)
    assert res["n_ranked"] == 2
    assert all(0.0 <= res[k] <= 1.0 for k in ("hit_rate", "precision", "recall", "f1", "top1"))

    # the same ranks given precomputed; no embed callables -> no cosine keys
    ranks = {("fc", 0): 1.0, ("fc", 1): float("nan"), ("layer4", 2): 6.0}
    res2 = m.evaluate_descriptions(descriptions, ground_truth, ranks=ranks)
    assert "clip_cos" not in res2 and "sentence_cos_se" not in res2
    assert (res2["top1"], res2["mean_rank"]) == (res["top1"], res["mean_rank"])


def test_evaluate_descriptions_empty_and_frames():
    res = m.evaluate_descriptions({}, {})
    assert res["n_neurons"] == 0 and math.isnan(res["hit_rate"])
    pd = pytest.importorskip("pandas")
    gt = m.synonyms_by_neuron(pd.DataFrame(
        {"layer": ["fc", "fc"], "unit": [0, 1], "synonyms": ["ring|annulus|donut", "star"]}))
    desc = m.concepts_by_neuron(pd.DataFrame(
        {"layer": ["fc", "fc"], "unit": [0, 1], "concepts": [["donut"], []]}))
    assert gt[("fc", 0)] == ["ring", "annulus", "donut"]
    res = m.evaluate_descriptions(desc, gt, embed_clip=toy_embed)
    assert res["hit_rate"] == 0.5
    assert res["recall"] == pytest.approx((1 / 3 + 0) / 2)
    # donut . (ring, annulus, donut) = (0.8, 0, 1) -> 0.6; the empty description -> 0.0
    assert res["clip_cos"] == pytest.approx((0.6 + 0.0) / 2)


# --------------------------------------------------------------------------- sentence model


def test_bundled_minilm_embeds_synonyms_closer(capsys):
    offline_before = os.environ.get("HF_HUB_OFFLINE")
    start = time.perf_counter()
    import sentence_transformers  # noqa: F401  (torch + transformers: most of the time)

    imported = time.perf_counter()
    model = load_sentence_model("all-MiniLM-L6-v2", device="cpu")
    loaded = time.perf_counter()
    assert os.environ.get("HF_HUB_OFFLINE") == offline_before  # only set while loading
    words = ["circle", "disc", "disk", "striped", "stripes", "crescent", "crescent moon", "car"]
    emb = embed_sentences(model, words)
    assert emb.shape == (len(words), 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    vec = dict(zip(words, emb))
    for word, synonyms in [("circle", ["disc", "disk"]), ("striped", ["stripes"]),
                           ("crescent", ["crescent moon"])]:
        best = max(float(vec[word] @ vec[s]) for s in synonyms)
        assert best > float(vec[word] @ vec["car"]) + 0.1, word
    assert embed_sentences(model, []).shape == (0, 384)
    with capsys.disabled():
        print(f"\nimport sentence_transformers {imported - start:.2f} s, "
              f"load bundled all-MiniLM-L6-v2 {loaded - imported:.2f} s")


def test_bundled_minilm_by_hub_id_and_folder_through_evaluate():
    model = load_sentence_model("sentence-transformers/all-MiniLM-L6-v2")
    folder_model = load_sentence_model(str(bundled_model_path()))
    np.testing.assert_allclose(embed_sentences(folder_model, ["disc"]),
                               embed_sentences(model, ["disc"]), atol=1e-6)
    res = m.evaluate_descriptions(
        {("fc", 0): ["disc"], ("fc", 1): ["car"]}, {("fc", 0): ["circle"], ("fc", 1): ["circle"]},
        embed_sentence=lambda texts: embed_sentences(model, texts))
    scores = m.neuron_scores({("fc", 0): ["disc"], ("fc", 1): ["car"]},
                             {("fc", 0): ["circle"], ("fc", 1): ["circle"]},
                             embed_sentence=lambda texts: embed_sentences(model, texts))
    assert scores["sentence_cos"][0] > scores["sentence_cos"][1]
    assert res["sentence_cos"] == pytest.approx(scores["sentence_cos"].mean())


@pytest.mark.skipif(hub_reachable(timeout=2.0), reason="the Hugging Face hub is reachable")
def test_named_model_offline_raises_clear_error():
    start = time.perf_counter()
    with pytest.raises(OfflineModelError) as err:
        load_sentence_model("all-mpnet-base-v2")
    assert time.perf_counter() - start < 15
    message = str(err.value)
    assert "all-mpnet-base-v2" in message and "could not be downloaded" in message
    assert "local folder path" in message and "metrics.sentence_model" in message
    assert isinstance(err.value, RuntimeError)


def test_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_sentence_model(str(tmp_path / "no-such-model"))


def test_cached_embedder_embeds_each_distinct_text_once():
    from conceptlens.metrics import cached_embedder

    calls = []

    def embed(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts])

    cached = cached_embedder(embed)
    first = cached(["dog", "cat", "dog"])
    second = cached(["cat", "zebra"])
    assert calls == [["dog", "cat"], ["zebra"]]
    assert first.tolist() == [[3, 1], [3, 1], [3, 1]] and second.tolist() == [[3, 1], [5, 1]]


def test_metric_vocabulary_holds_concepts_synonyms_and_imported_concepts_once():
    imported = pd.DataFrame({"layer": ["fc"], "unit": [0], "concepts": ["a red ring|Star "]})
    vocab = m.metric_vocabulary(["star", "circle"], ["ring", "Annulus", "star"], [imported])
    assert vocab == ["star", "circle", "ring", "annulus", "a red ring"]


def test_lookup_embedder_returns_the_precomputed_rows_and_names_a_missing_text():
    emb = np.eye(3, dtype=np.float32)
    embed = m.lookup_embedder(["star", "ring", "red"], emb, "metrics/world/text_embeddings.npz")
    np.testing.assert_array_equal(embed(["red", "star", "red"]), emb[[2, 0, 2]])
    assert embed([]).shape == (0, 3)
    with pytest.raises(KeyError, match=r"text_embeddings\.npz has no embedding of 'car'"):
        embed(["star", "car"])
    with pytest.raises(ValueError, match="2 texts but embeddings of shape"):
        m.lookup_embedder(["a", "b"], emb, "x.npz")
