"""Evidence for descriptions without ground truth: the scores and baselines
(conceptlens.evidence), the stage on files written by the real io writers
(conceptlens.stages.evidence, conceptlens.io.evidence) and the rule adapters."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conceptlens import methods
from conceptlens.evidence import (
    EVIDENCE_COLUMNS,
    agreement,
    auc_matrix,
    average_ranks,
    concept_predictions,
    evidence_flags,
    layer_evidence,
    masked_pearson_matrix,
    most_frequent,
    selection_half,
    shuffled_baseline,
    spearman_matrix,
    top_and_random_mask,
    top_fraction_mask,
)
from conceptlens.io.evidence import (
    load_evidence,
    load_evidence_check,
    load_evidence_summary,
    save_evidence,
)
from conceptlens.stages.evidence import (
    CHECK_COLUMNS,
    SUMMARY_COLUMNS,
    evidence_check,
    evidence_plan,
    evidence_summary,
)

REPO = Path(__file__).resolve().parents[1]


def one_hot_world(shown: np.ndarray, n_concepts: int):
    """Embeddings where concept c's prediction is exactly 1 on the images showing c and 0
    on the others: image = e_{c+1}, prompt of c = e_{c+1}, template alone = e_0."""
    eye = np.eye(n_concepts + 1, dtype=np.float32)
    return eye[shown + 1], eye[1:], eye[0]


# ------------------------------------------------------------------ scores and baselines

def test_predictions_are_prompt_minus_template_similarity():
    images, text, template = one_hot_world(np.array([0, 2, 1, 2]), 3)
    assert np.array_equal(concept_predictions(images, text, template),
                          [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])


def test_a_neuron_firing_on_its_concept_simulates_it_and_beats_the_shuffled_baseline():
    n_concepts = 24
    shown = np.repeat(np.arange(n_concepts), 5)
    predictions = concept_predictions(*one_hot_world(shown, n_concepts))
    activations = (shown[:, None] == np.arange(n_concepts)).astype(float)
    own = np.arange(n_concepts)
    ev = layer_evidence(activations, predictions, own, contrast_fraction=5 / len(shown))
    for score in ("simulation_pearson", "simulation_spearman", "contrast_auc"):
        assert np.allclose(ev[score], 1.0)
        assert (ev[f"{score}_shuffled"] < 0.6).all()  # other neurons' labels fall short
        assert np.allclose(ev[f"{score}_p"], 1 / n_concepts)
    assert (ev["contrast_diff"] > 3).all() and (ev["contrast_diff_shuffled"] < 0).all()
    assert ev["beats_shuffled"].all()
    # the constant baseline: every label appears once, so the first one
    simulated = top_and_random_mask(activations, 0.1)
    assert np.allclose(ev["simulation_pearson_constant"],
                       masked_pearson_matrix(activations, predictions, simulated)[:, 0])
    assert ev["simulation_pearson_constant"][0] == pytest.approx(1.0)


def test_simulation_images_are_the_top_and_as_many_random_ones():
    rng = np.random.default_rng(0)
    activations = rng.normal(size=(200, 5))
    mask = top_and_random_mask(activations, 0.1)
    assert (mask.sum(axis=0) == 40).all()  # 20 top (10%), 20 others
    top = np.argsort(-activations, axis=0)[:20]
    assert all(mask[top[:, j], j].all() for j in range(5))
    assert np.array_equal(mask, top_and_random_mask(activations, 0.1))  # seeded
    # small sets: at least MIN_SIMULATION_TOP top images, at most half of the images
    assert (top_and_random_mask(rng.normal(size=(30, 2)), 0.1).sum(axis=0) == 20).all()
    assert (top_and_random_mask(rng.normal(size=(7, 2)), 0.1).sum(axis=0) == 6).all()
    predictions = rng.normal(size=(200, 3))
    masked = masked_pearson_matrix(activations, predictions, mask)
    for j in range(5):
        rows = mask[:, j]
        for c in range(3):
            expected = np.corrcoef(activations[rows, j], predictions[rows, c])[0, 1]
            assert masked[j, c] == pytest.approx(expected)
    flat = masked_pearson_matrix(activations, np.ones((200, 1)), mask)
    assert (flat == 0).all()  # a constant prediction predicts nothing
    assert np.isnan(masked_pearson_matrix(np.ones((200, 1)), predictions,
                                          np.ones((200, 1), bool))).all()


def test_random_neurons_do_not_beat_their_shuffled_baseline():
    rng = np.random.default_rng(3)
    n_concepts = 24
    shown = np.repeat(np.arange(n_concepts), 5)
    predictions = concept_predictions(*one_hot_world(shown, n_concepts))
    activations = rng.normal(size=(len(shown), 48))
    ev = layer_evidence(activations, predictions, np.arange(48) % n_concepts)
    assert ev["beats_shuffled"].mean() <= 0.05
    assert 0.2 < np.median(ev["simulation_pearson_p"]) < 0.8  # about uniform under the null


def test_constant_activations_give_nan_correlations_without_crashing():
    shown = np.repeat(np.arange(4), 3)
    predictions = concept_predictions(*one_hot_world(shown, 4))
    activations = (shown[:, None] == np.arange(4)).astype(np.float32)
    activations[:, 1] = 0.1  # float32 0.1: a mean of equal values must still be constant
    with np.errstate(all="raise"):
        ev = layer_evidence(activations, predictions, np.arange(4))
    assert np.isnan(ev["simulation_pearson"][1]) and np.isnan(ev["simulation_spearman"][1])
    assert np.isnan(ev["simulation_pearson_p"][1])
    assert ev["contrast_auc"][1] == 0.5 and ev["contrast_diff"][1] == 0.0
    assert not ev["beats_shuffled"][1]
    assert np.isfinite(ev["simulation_pearson"][[0, 2, 3]]).all()
    flags = evidence_flags({"beats_shuffled": ev["beats_shuffled"],
                            "constant_activation": np.ptp(activations, axis=0) == 0})
    assert flags[1] == "below_shuffled,constant_activation"


def test_the_permutation_p_value_and_the_shuffled_mean():
    # 4 neurons, labels 0, 1, 2, 2: a shuffled description is another neuron's with a
    # different label, so label 2 (two neurons) is drawn twice as often as label 0 or 1
    scores = np.array([[0.5, 0.7, 0.2],
                       [0.1, 0.9, np.nan],
                       [0.3, 0.1, 0.8],
                       [0.9, 0.0, 0.5]])
    mean, p = shuffled_baseline(scores, np.array([0, 1, 2, 2]))
    # neuron 0: neuron 1's 0.7 (>= 0.5) and neurons 2 and 3's 0.2
    assert mean[0] == pytest.approx((0.7 + 2 * 0.2) / 3) and p[0] == pytest.approx(2 / 4)
    # neuron 1: the NaN label is left out -> neuron 0's 0.1 only
    assert mean[1] == pytest.approx(0.1) and p[1] == pytest.approx(1 / 2)
    # neurons 2 and 3 share label 2: only neurons 0 and 1 are shuffles of theirs
    assert mean[2] == pytest.approx(0.2) and p[2] == pytest.approx(1 / 3)
    assert mean[3] == pytest.approx(0.45) and p[3] == pytest.approx(2 / 3)
    _, p_nan = shuffled_baseline(np.array([[np.nan, 0.0], [0.0, 0.0]]), np.array([0, 1]))
    assert np.isnan(p_nan[0])  # own score NaN


def test_a_layer_with_one_distinct_label_has_no_shuffles_and_is_flagged():
    shown = np.array([0, 0, 1, 1, 1, 0])
    predictions = concept_predictions(*one_hot_world(shown, 2))[:, :1]
    activations = (shown[:, None] == 0).astype(float) * [1.0, 2.0, 3.0]
    ev = layer_evidence(activations, predictions, np.zeros(3, int), significance=0.5)
    assert np.allclose(ev["simulation_pearson"], 1.0)
    assert np.allclose(ev["simulation_pearson_p"], 1.0)
    assert np.isnan(ev["simulation_pearson_shuffled"]).all()
    assert not ev["beats_shuffled"].any()
    assert evidence_flags({"beats_shuffled": ev["beats_shuffled"]}) == ["below_shuffled"] * 3


@pytest.mark.parametrize("n_images", [1, 2, 3])
def test_tiny_evaluation_halves_do_not_crash(n_images):
    rng = np.random.default_rng(n_images)
    shown = np.arange(n_images) % 2
    predictions = concept_predictions(*one_hot_world(shown, 2))
    with np.errstate(all="raise"):
        ev = layer_evidence(rng.random((n_images, 3)), predictions, np.array([0, 1, 0]))
    assert all(v.shape == (3,) for v in ev.values())
    if n_images == 1:
        assert np.isnan(ev["simulation_pearson"]).all() and np.isnan(ev["contrast_auc"]).all()
    else:
        assert np.isfinite(ev["contrast_auc"]).all()
    assert not ev["beats_shuffled"].any()


def test_rank_scores_match_the_reference_implementations():
    from scipy.stats import rankdata, spearmanr
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (40, 5)).astype(float)  # many ties
    y = rng.normal(size=(40, 3))
    positives = top_fraction_mask(y, 0.25)
    assert positives.sum(axis=0).tolist() == [10, 10, 10]
    assert np.allclose(average_ranks(x), rankdata(x, axis=0))
    assert spearman_matrix(x, y)[2, 1] == pytest.approx(spearmanr(x[:, 2], y[:, 1])[0])
    assert auc_matrix(x, positives)[4, 0] == pytest.approx(roc_auc_score(positives[:, 0],
                                                                          x[:, 4]))


def test_the_constant_label_is_the_most_frequent_ties_to_the_first():
    assert most_frequent(np.array([3, 1, 3, 1, 2])) == 1
    assert most_frequent(np.array([4, 4, 0])) == 4


def test_agreement_is_the_fraction_of_other_methods_with_the_same_concept():
    concepts = np.array([["star", "ring", None],
                         ["star", "disc", None],
                         ["moon", "ring", "star"]], dtype=object)
    assert np.allclose(agreement(concepts), [[0.5, 0.5, 0.0], [0.5, 0.0, 0.0],
                                             [0.0, 0.5, 0.0]])
    assert np.isnan(agreement(concepts[:1])).all()  # no other method
    flags = evidence_flags({"beats_shuffled": np.ones(3, bool),
                            "agreement": np.array([0.0, np.nan, 0.5]),
                            "stable_k": pd.array([False, pd.NA, True], dtype="boolean"),
                            "weak": np.array([False, True, False])})
    assert flags == ["methods_disagree,unstable", "weak", ""]


def test_the_check_finds_scores_that_separate_hits_from_misses():
    evidence = pd.DataFrame({"method": "m", "layer": "fc", "unit": np.arange(6),
                             "simulation_pearson": [0.9, 0.8, 0.7, 0.1, 0.0, np.nan],
                             "simulation_spearman": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                             "contrast_auc": 0.5, "contrast_diff": [3, 2, 1, 0, -1, -2],
                             "beats_shuffled": [True, True, False, False, False, False],
                             "heldout_simulation_pearson": [0.0, 0.1, 0.2, 0.8, 0.9, 0.5],
                             "heldout_contrast_auc": np.nan})
    per_neuron = pd.DataFrame({"method": ["m"] * 6 + ["other"], "layer": "fc",
                               "unit": [0, 1, 2, 3, 4, 5, 0],
                               "hit": [1, 1, 1, 0, 0, np.nan, 1],
                               "f1": [1.0, 0.9, 0.8, 0.2, 0.0, np.nan, 1.0]})
    check = evidence_check(evidence, per_neuron)
    assert list(check.columns) == list(CHECK_COLUMNS)
    row = check.iloc[0]
    assert (row["n_hits"], row["n_misses"]) == (3, 2)
    assert row["simulation_pearson_auroc"] == 1.0 and row["contrast_diff_auroc"] == 1.0
    assert row["simulation_spearman_auroc"] == 0.0 and row["contrast_auc_auroc"] == 0.5
    assert row["simulation_pearson_f1_spearman"] == pytest.approx(1.0)
    assert np.isnan(row["contrast_auc_f1_spearman"])  # constant score
    assert row["heldout_simulation_pearson_auroc"] == 0.0
    assert np.isnan(row["heldout_contrast_auc_auroc"])
    assert row["hit_rate_beats_shuffled"] == 1.0
    assert row["hit_rate_below_shuffled"] == pytest.approx(1 / 3)
    no_truth = evidence_check(evidence, per_neuron.assign(hit=np.nan))
    assert no_truth.iloc[0]["n_hits"] == 0 and np.isnan(no_truth.iloc[0]["contrast_diff_auroc"])


# ------------------------------------------------------------------ the stage on files

CONCEPTS = ["circle", "square", "star", "heart", "ring", "cross", "tree"]
LAYER = "layer4"


def _topk(activations: np.ndarray, ids: np.ndarray, k: int):
    order = np.argsort(-activations[ids], axis=0, kind="stable")[:k].T
    return ids[order], np.take_along_axis(activations[ids], order.T, axis=0).T


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 48-image probe set: each half shows concepts 0-5; six evaluation images show
    "tree", which neuron 5 fires on most (its own concept, cross, less).  Written with the
    real io writers, described by the describe stage, with a stability table of soft_wpmi.
    Returns (root, evidence plan: www, soft_wpmi, rank_reorder)."""
    from conceptlens.io.activations import save_activations
    from conceptlens.io.descriptions import save_descriptions
    from conceptlens.io.embeddings import save_image_embeddings, save_text_embeddings
    from conceptlens.io.stability import save_stability_per_neuron
    from conceptlens.io.topk import save_topk
    from conceptlens.stages.describe import describe_plan

    root = tmp_path_factory.mktemp("evidence")
    n_images, k = 48, 4
    half = selection_half(n_images)
    chosen, evaluation = np.flatnonzero(half), np.flatnonzero(~half)
    shown = np.empty(n_images, int)
    shown[chosen] = np.arange(24) % 6
    shown[evaluation] = np.r_[np.arange(18) % 6, np.full(6, 6)]
    rng = np.random.default_rng(0)
    acts = (shown[:, None] == np.arange(6)).astype(float) + 0.01 * rng.random((n_images, 6))
    acts[shown == 6, 5] = 2.0
    images, text, template = one_hot_world(shown, len(CONCEPTS))
    for view in ("full", "center"):
        save_activations(root / f"activations/{view}/{LAYER}.npz", acts)
    idx, val = _topk(acts, np.arange(n_images), k)
    half_idx, half_val = _topk(acts, chosen, k)
    save_topk(root / f"topk/center/{LAYER}.npz", idx, val, half_idx, half_val)
    union = np.unique(np.r_[idx.ravel(), half_idx.ravel()])
    save_image_embeddings(root / "clip/world/images.npz", {
        "center.topk": (union, images[union]), "full.all": (np.arange(n_images), images)})
    save_text_embeddings(root / "clip/world/text/world.npz", CONCEPTS,
                         {"photo": ("a photo of a {}", text, template)})
    settings = methods.method_settings({"methods": {
        "www": {"family": "www", "view": "center", "template": "photo",
                "similarity": "cosine", "k": k},
        "soft_wpmi": {"family": "clip_dissect", "view": "full", "template": "photo",
                      "function": "soft_wpmi", "top_k": k},
        # 2 top images at 5% of the 48, 1 of the half's 24: fitted to the half
        "rank_reorder": {"family": "clip_dissect", "view": "full", "template": "photo",
                         "function": "rank_reorder"}}})
    plan = []
    for method, s in settings.items():
        reads = methods.reads(s)
        plan.append({"method": method, "layer": LAYER, "settings": s,
                     "image_set": methods.image_set(s), "template": s["template"],
                     "inputs": {"text": str(root / "clip/world/text/world.npz"),
                                "images": str(root / "clip/world/images.npz"),
                                reads: str(root / f"{reads}/{s['view']}/{LAYER}.npz")}})
    for step, (table, scores) in zip(plan, describe_plan(plan)):
        parquet = root / f"descriptions/world/{step['method']}/{LAYER}.parquet"
        with np.errstate(over="ignore"):  # rank_reorder's scores exceed float16 here
            save_descriptions(table, parquet, parquet.with_suffix(".csv"),
                              parquet.with_suffix(".scores.npy"), scores)
        step["inputs"].update(full_activations=str(root / f"activations/full/{LAYER}.npz"),
                              descriptions=str(parquet))
    stability = pd.DataFrame({"layer": LAYER, "unit": np.arange(6),
                              "top1_5_10": [True] * 5 + [False], "top1_5_16": True,
                              "subsample_top1_seed0": True,
                              "subsample_top1_seed1": [True, False] * 3})
    save_stability_per_neuron(stability, root / "stability/world/soft_wpmi.parquet")
    return root, plan


def test_evidence_plan_on_real_files(run):
    root, plan = run
    stability = {"soft_wpmi": str(root / "stability/world/soft_wpmi.parquet")}
    evidence = evidence_plan(plan[:2], significance=0.2, stability=stability)
    assert list(evidence.columns) == list(EVIDENCE_COLUMNS)
    assert len(evidence) == 12 and (evidence["n_evaluation"] == 24).all()
    www = evidence[evidence["method"] == "www"].set_index("unit")
    cd = evidence[evidence["method"] == "soft_wpmi"].set_index("unit")
    # the reported www description of neuron 5 comes from its top images, the "tree"
    # images of the evaluation half; chosen on the selection half, where no image shows a
    # tree, it cannot be tree
    assert www.loc[5, "concept"] == "tree"
    assert list(www["heldout_concept"]) == CONCEPTS[:6] == list(cd["heldout_concept"])
    assert not www.loc[5, "heldout_agrees"] and www.loc[:4, "heldout_agrees"].all()
    assert "heldout_differs" in www.loc[5, "flags"].split(",")
    for frame in (www, cd):
        assert (frame.loc[:4, "simulation_pearson"] > 0.95).all()
        assert (frame.loc[:4, "contrast_auc"] > 0.95).all()
        assert frame.loc[:4, "beats_shuffled"].all()  # p = 1/6 <= 0.2
        assert np.allclose(frame["simulation_pearson_p"].iloc[:5], 1 / 6)
    assert (www.loc[:4, "agreement"] == 1.0).all() and (cd.loc[:4, "agreement"] == 1.0).all()
    assert list(cd["stable_k"]) == [True] * 5 + [False]
    assert np.allclose(cd["subsample_top1"], [1, 0.5] * 3)
    assert "unstable" in cd.loc[5, "flags"] and www["stable_k"].isna().all()
    assert www["subsample_top1"].isna().all()
    assert (www.loc[:4, "flags"] == "").all()

    summary = evidence_summary(evidence)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary.set_index("method").loc["www", "heldout_agrees_fraction"] == \
        pytest.approx(5 / 6)
    save_evidence(evidence, root / "e.parquet", root / "e.csv")
    for path in ("e.parquet", "e.csv"):
        back = load_evidence(root / path)
        assert list(back["flags"]) == list(evidence["flags"])
        assert np.allclose(back["simulation_pearson"], evidence["simulation_pearson"],
                           equal_nan=True)


def test_held_out_choice_ignores_evaluation_images(run):
    """Top-k family: its half top-k sets must lie in the selection half."""
    from conceptlens.io.topk import load_topk, save_topk

    root, plan = run
    path = root / f"topk/center/{LAYER}.npz"
    idx, val = load_topk(path)
    bad = root / "bad_topk.npz"
    save_topk(bad, idx, val, idx, val)  # full-probe sets passed off as the half's
    step = {**plan[0], "inputs": {**plan[0]["inputs"], "topk": str(bad)}}
    with pytest.raises(ValueError, match="not within the selection half"):
        evidence_plan([step])


def test_settings_are_fitted_to_the_selection_half(run, caplog):
    import logging

    _, plan = run
    with caplog.at_level(logging.INFO):
        evidence = evidence_plan(plan[2:])  # rank_reorder: int(24 * 0.05) = 1 < 2
    assert "top_fraction = 0.05 keeps fewer than 2 of the 24 probe images" in caplog.text
    assert evidence["heldout_concept"].notna().all()
    assert not evidence["flags"].str.contains("no_heldout").any()


def test_a_method_that_cannot_score_the_half_gets_no_evidence_and_is_flagged(
        run, caplog, monkeypatch):
    _, plan = run
    score = methods.score

    def fails_on_the_half(settings, inputs):
        if settings.get("function") == "rank_reorder" and len(inputs.image_ids) < 48:
            raise ValueError("too few images")
        return score(settings, inputs)

    monkeypatch.setattr(methods, "score", fails_on_the_half)
    evidence = evidence_plan(plan)
    rr = evidence[evidence["method"] == "rank_reorder"]
    assert rr["heldout_concept"].isna().all() and not rr["heldout_agrees"].any()
    assert rr["heldout_simulation_pearson"].isna().all()
    assert rr["heldout_contrast_auc"].isna().all()
    # the reported descriptions are still scored on the evaluation half
    assert rr["simulation_pearson"].notna().all()
    assert rr["flags"].str.startswith("no_heldout").all()
    assert rr["agreement"].notna().all()  # its reported descriptions still count
    assert "cannot choose on the selection half (too few images)" in caplog.text
    others = evidence[evidence["method"] != "rank_reorder"]
    assert not others["flags"].str.contains("no_heldout").any()


def run_adapter(name: str, tmp_path: Path, input: dict, output: dict, params=None):
    named = lambda d: SimpleNamespace(**d)  # noqa: E731
    smk = SimpleNamespace(input=named(input), output=named(output),
                          params=params or SimpleNamespace(), wildcards=None,
                          log=[str(tmp_path / f"{name}.log")], threads=1, rule=name)
    runpy.run_path(str(REPO / "scripts" / f"{name}.py"), init_globals={"snakemake": smk})
    return (tmp_path / f"{name}.log").read_text()


def test_the_rule_adapters_write_what_the_stages_return(run, tmp_path):
    root, plan = run
    out = {"table": str(tmp_path / "evidence.parquet"), "csv": str(tmp_path / "evidence.csv"),
           "summary": str(tmp_path / "summary.csv"),
           "summary_json": str(tmp_path / "summary.json")}
    log = run_adapter("evidence", tmp_path,
                      {"stability": [str(root / "stability/world/soft_wpmi.parquet")]}, out,
                      SimpleNamespace(plan=plan[:2], settings={"contrast_fraction": 0.1,
                                                           "significance": 0.2}))
    assert "distinct held-out labels" in log
    evidence = load_evidence(out["table"])
    assert evidence["stable_k"].notna().sum() == 6
    assert len(load_evidence_summary(out["summary"])) == 2
    per_neuron = pd.DataFrame({"method": "www", "layer": LAYER, "unit": np.arange(6),
                               "hit": [1, 1, 1, 1, 1, 0], "f1": [1, 1, 1, 1, 1, 0.0]})
    per_neuron.to_parquet(tmp_path / "per_neuron.parquet")
    check_out = {"csv": str(tmp_path / "check.csv"), "json": str(tmp_path / "check.json")}
    run_adapter("evidence_check", tmp_path,
                {"evidence": out["table"], "per_neuron": str(tmp_path / "per_neuron.parquet")},
                check_out)
    check = load_evidence_check(check_out["csv"]).set_index("method")
    assert (check.loc["www", "n_hits"], check.loc["www", "n_misses"]) == (5, 1)
    assert check.loc["soft_wpmi", "n_hits"] == 0
    import json

    rows = json.loads(Path(check_out["json"]).read_text())["rows"]
    assert {r["method"] for r in rows} == {"www", "soft_wpmi"}
