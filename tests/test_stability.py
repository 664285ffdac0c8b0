"""Stability of CLIP-Dissect labels (conceptlens.stability and its two rule scripts)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from conceptlens.io.activations import save_activations
from conceptlens.io.embeddings import save_image_embeddings, save_text_embeddings
from conceptlens.io.stability import save_chart
from conceptlens.scoring import canonical_order
from conceptlens.stability import (
    Subsample,
    jaccard,
    labels_by_k,
    layer_stability,
    pooled_stability,
    same_set,
    subsample_rows,
    top1_agree,
    top_labels,
)
from conceptlens.stability_summary import stability_chart, stability_table, summarise

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("soft_wpmi", "wpmi")
TABLE_COLUMNS = ["k=5->10", "k=5->16", "jaccard 5->10", "jaccard 5->16", "top-1 5->10",
                 "top-1 5->16", "subsample top-1 mean", "subsample top-1 std", "neurons"]


def probe(n_images: int = 120, n_concepts: int = 30, n_neurons: int = 12, seed: int = 0,
          levels: int | None = 4) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Random (clip_feats, activations, concept names); ``levels`` quantises the activations
    to that many values per unit so that ties abound (as float16 activations tie)."""
    gen = torch.Generator().manual_seed(seed)
    clip = torch.nn.functional.normalize(torch.randn(n_images, n_concepts, generator=gen), dim=1)
    acts = torch.randn(n_images, n_neurons, generator=gen).relu()
    if levels is not None:
        acts = (acts * levels).round() / levels
    return clip, acts, [f"c{i}" for i in range(n_concepts)]


# --------------------------------------------------------------------------- label sets


def test_same_set_and_jaccard_hand_cases():
    a = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]])
    b = torch.tensor([[5, 4, 3, 2, 1], [1, 2, 3, 4, 9], [6, 7, 8, 9, 10]])
    assert same_set(a, b).tolist() == [True, False, False]
    assert jaccard(a, b).tolist() == pytest.approx([1.0, 4 / 6, 0.0])
    assert top1_agree(a, b).tolist() == [False, True, False]
    # two of three shared: 2 / (3 + 3 - 2)
    assert jaccard(torch.tensor([[0, 1, 2]]), torch.tensor([[2, 0, 7]])).item() == 0.5


def test_label_set_errors():
    with pytest.raises(ValueError, match="same shape"):
        same_set(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="repeats a label"):
        jaccard(torch.tensor([[1, 1, 2]]), torch.tensor([[1, 2, 3]]))
    with pytest.raises(ValueError, match="integer"):
        top1_agree(torch.zeros(2, 5), torch.zeros(2, 5))


def test_top_labels_breaks_ties_by_concept_index_and_ranks_nan_last():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.0, 3.0], [float("nan"), 2.0, 1.0, 2.0, 0.0]])
    assert top_labels(scores, top=3).tolist() == [[1, 2, 4], [1, 3, 2]]
    with pytest.warns(UserWarning, match="top=9"):
        assert top_labels(scores, top=9).shape == (2, 5)


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("function", FUNCTIONS)
def test_equal_k_is_fully_stable(function):
    clip, acts, concepts = probe()
    frame = layer_stability("l", clip, acts, function, concepts, ks=(7, 7), top=5)
    numbers = summarise(frame, "x")
    assert numbers["k=7->7"] == 100.0
    assert numbers["jaccard 7->7"] == 1.0
    assert numbers["top-1 7->7"] == 100.0
    # and independent calls agree with each other
    assert torch.equal(labels_by_k(clip, acts, function, [7])[7],
                       labels_by_k(clip, acts, function, [3, 7])[7])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_labels_do_not_depend_on_probe_order_even_with_tied_activations(function):
    clip, acts, _ = probe(seed=1)
    ranked = acts.sort(dim=0, descending=True).values
    assert bool((ranked[4] == ranked[5]).any()), "the inputs must tie at the k=5 boundary"
    base = labels_by_k(clip, acts, function, [5, 10, 16])
    for seed in range(3):
        perm = torch.randperm(len(acts), generator=torch.Generator().manual_seed(seed))
        shuffled = labels_by_k(clip[perm], acts[perm], function, [5, 10, 16])
        for k in (5, 10, 16):
            assert torch.equal(base[k], shuffled[k]), (function, seed, k)


def test_canonical_order_is_content_order():
    clip = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    acts = torch.tensor([[5.0, 1.0], [5.0, 1.0], [0.0, 2.0], [5.0, 0.0]])
    order = canonical_order(clip, acts)
    for perm in ([3, 2, 1, 0], [1, 0, 3, 2], [2, 3, 0, 1]):
        perm = torch.tensor(perm)
        other = perm[canonical_order(clip[perm], acts[perm])]
        assert torch.equal(clip[order], clip[other]) and torch.equal(acts[order], acts[other])
    assert sorted(order.tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_layer_stability_columns_and_consistency(function):
    clip, acts, concepts = probe(n_neurons=6)
    subsets = subsample_rows(len(clip), 0.8, [0, 1])
    frame = layer_stability("layer4", clip, acts, function, concepts, ks=(5, 10, 16), top=3,
                            subsets=subsets, subsample_k=10, units=np.arange(100, 106))
    assert list(frame.columns) == [
        "layer", "unit", "top3_k5", "top3_k10", "top3_k16",
        "same_5_10", "jaccard_5_10", "top1_5_10", "same_5_16", "jaccard_5_16", "top1_5_16",
        "subsample_top1_seed0", "subsample_top1_seed1"]
    assert frame["unit"].tolist() == list(range(100, 106))
    labels = labels_by_k(clip, acts, function, [5, 10])
    assert frame["top3_k5"].tolist() == [[concepts[i] for i in row[:3]]
                                         for row in labels[5].tolist()]
    expected_same = [set(a) == set(b) for a, b in zip(frame["top3_k5"], frame["top3_k10"])]
    assert frame["same_5_10"].tolist() == expected_same
    assert frame["top1_5_10"].tolist() == [a[0] == b[0] for a, b in
                                           zip(frame["top3_k5"], frame["top3_k10"])]


def test_bad_inputs_raise_clear_errors():
    clip, acts, concepts = probe()
    with pytest.raises(ValueError, match="unknown similarity function 'cos'"):
        labels_by_k(clip, acts, "cos", [5])
    with pytest.raises(ValueError, match="120 images, target_feats 100"):
        labels_by_k(clip, acts[:100], "wpmi", [5])
    with pytest.raises(ValueError, match=">= 1"):
        labels_by_k(clip, acts, "wpmi", [0, 5])
    with pytest.raises(ValueError, match="29 concept names for 30"):
        layer_stability("l", clip, acts, "wpmi", concepts[:-1], ks=(5, 10))
    with pytest.raises(ValueError, match="fraction"):
        subsample_rows(10, 0.0, [0])
    with pytest.raises(ValueError, match="unknown subsample key"):
        Subsample.from_config({"fraction": 0.5, "seed": [1]})


def test_k_above_image_count_is_clamped_as_scoring_does():
    clip, acts, _ = probe(n_images=12)
    with pytest.warns(UserWarning, match="top_k=16 requested but there are only 12 images"):
        labels = labels_by_k(clip, acts, "soft_wpmi", [12, 16])
    assert torch.equal(labels[12], labels[16])


# --------------------------------------------------------------------------- perturbations


def test_subsample_rows_are_seeded_sorted_subsets():
    rows = subsample_rows(50, 0.8, [0, 1, 0])
    assert set(rows) == {0, 1}
    assert all(len(r) == 40 and len(set(r.tolist())) == 40 for r in rows.values())
    assert all(bool((r[1:] > r[:-1]).all()) for r in rows.values())
    assert torch.equal(rows[0], subsample_rows(50, 0.8, [0])[0])
    assert not torch.equal(rows[0], rows[1])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_subsample_of_the_whole_probe_set_agrees_fully(function):
    clip, acts, concepts = probe(seed=2)
    frame = pooled_stability([("l", acts, None)], clip, function, concepts, ks=(5, 10),
                             subsample=Subsample(fraction=1.0, seeds=(3, 4, 5), k=10))
    numbers = summarise(frame, "x")
    assert numbers["subsample top-1 mean"] == 100.0
    assert numbers["subsample top-1 std"] == 0.0


def test_pooling_counts_every_neuron_of_every_layer():
    def layer(name, same, top1, seed0):
        n = len(same)
        return pd.DataFrame({"layer": name, "unit": range(n), "same_5_10": same,
                             "jaccard_5_10": [1.0 if s else 0.5 for s in same],
                             "top1_5_10": top1, "subsample_top1_seed0": seed0,
                             "subsample_top1_seed1": [True] * n})

    frame = pd.concat([layer("a", [True, False, False], [True, True, False], [False] * 3),
                       layer("b", [True], [True], [True])], ignore_index=True)
    s = summarise(frame, "world_world_wpmi")
    assert s["neurons"] == 4
    assert s["k=5->10"] == 50.0  # 2 of 4 neurons, not the mean of 33.3 and 100
    assert s["jaccard 5->10"] == pytest.approx((1 + 0.5 + 0.5 + 1) / 4)
    assert s["top-1 5->10"] == 75.0
    assert s["subsample top-1 per seed"] == {"0": 25.0, "1": 100.0}
    assert s["subsample top-1 mean"] == 62.5
    assert s["subsample top-1 std"] == 37.5
    assert s["layers"]["a"]["k=5->10"] == pytest.approx(100 / 3)
    assert s["layers"]["b"]["neurons"] == 1


@pytest.mark.parametrize("function", FUNCTIONS)
def test_layers_are_scored_separately(function):
    clip, acts, concepts = probe(n_neurons=10, seed=3)
    small, big = acts[:, :3], acts[:, 3:]
    frame = pooled_stability([("small", small, None), ("big", big, None)], clip, function,
                             concepts, ks=(5, 10), subsample=None)
    assert frame["layer"].tolist() == ["small"] * 3 + ["big"] * 7
    for name, part in (("small", small), ("big", big)):
        alone = layer_stability(name, clip, part, function, concepts, ks=(5, 10))
        pd.testing.assert_frame_equal(frame[frame["layer"] == name].reset_index(drop=True),
                                      alone)


# --------------------------------------------------------------------------- table, chart


def summary(name: str, same10: float, same16: float) -> dict:
    numbers = {"k=5->10": same10, "k=5->16": same16, "jaccard 5->10": 0.9,
               "jaccard 5->16": 0.8, "top-1 5->10": 99.0, "top-1 5->16": 98.0,
               "subsample top-1 mean": 97.0, "subsample top-1 std": 1.0, "neurons": 20}
    return {"name": name, **numbers, "subsample top-1 per seed": {"0": 97.0},
            "layers": {"layer4": {**numbers, "neurons": 16}, "fc": {**numbers, "neurons": 4}}}


def test_stability_table_rows_and_columns():
    table = stability_table([summary("world_world_soft_wpmi", 95.0, 90.0),
                             summary("world_world_wpmi", 80.0, 70.0)])
    assert list(table.columns) == ["layer", *TABLE_COLUMNS]
    assert table.index.name == "name"
    assert table.index.tolist() == ["world_world_soft_wpmi"] * 3 + ["world_world_wpmi"] * 3
    assert table["layer"].tolist() == ["all", "layer4", "fc"] * 2
    assert table["neurons"].tolist() == [20, 16, 4] * 2
    pooled = table[table["layer"] == "all"]
    assert pooled.loc["world_world_wpmi", "k=5->16"] == 70.0
    with pytest.raises(ValueError, match="duplicate"):
        stability_table([summary("a", 1, 1), summary("a", 2, 2)])


def test_chart_writes_png_and_svg(tmp_path):
    table = stability_table([summary("world_world_soft_wpmi", 95.0, 90.0),
                             summary("world_world_wpmi", 80.0, 70.0)])
    png, svg = tmp_path / "chart.png", tmp_path / "chart.svg"
    save_chart(stability_chart(table), png, svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "<svg" in svg.read_text()[:1000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png", "chart.svg"]


# --------------------------------------------------------------------------- rule scripts


def run_script(name: str, tmp_path: Path, **namespaces) -> None:
    smk = SimpleNamespace(log=[str(tmp_path / f"{name}.log")], threads=1, rule=name,
                          **{k: SimpleNamespace(**v) for k, v in namespaces.items()})
    runpy.run_path(str(REPO / "scripts" / f"{name}.py"), init_globals={"snakemake": smk})


def write_inputs(tmp_path: Path, n_images: int = 60, fc_images: int | None = None) -> dict:
    clip, acts, concepts = probe(n_images=n_images, n_concepts=20, n_neurons=8, seed=4)
    gen = torch.Generator().manual_seed(5)
    image = torch.nn.functional.normalize(torch.randn(n_images, 16, generator=gen), dim=1)
    text = torch.nn.functional.normalize(torch.randn(20, 16, generator=gen), dim=1)
    save_image_embeddings(tmp_path / "images.npz", {"full.all": (np.arange(n_images), image.numpy())})
    save_text_embeddings(tmp_path / "text.npz", concepts, {"bare": ("{}", text.numpy(), np.zeros(16))})
    save_activations(tmp_path / "layer4.npz", acts[:, :6].numpy())
    fc = probe(n_images=fc_images or n_images, n_neurons=2, seed=6)[1]
    save_activations(tmp_path / "fc.npz", fc.numpy())
    return {"activations": [str(tmp_path / "layer4.npz"), str(tmp_path / "fc.npz")],
            "images": str(tmp_path / "images.npz"), "text": str(tmp_path / "text.npz")}


def stability_params() -> dict:
    return {"functions": list(FUNCTIONS), "clip": "world", "template": "bare",
            "layers": ["layer4", "fc"], "ks": [5, 10, 16], "top": 5,
            "subsample": {"fraction": 0.8, "seeds": [0, 1], "k": 10}, "probe": "world"}


def test_rule_scripts_write_summaries_table_and_chart(tmp_path):
    inputs = write_inputs(tmp_path)
    # One job computes every function of a concept set.
    out = {"per_neuron": [str(tmp_path / f"{f}.parquet") for f in FUNCTIONS],
           "summary": [str(tmp_path / f"{f}.json") for f in FUNCTIONS]}
    run_script("stability", tmp_path, input=inputs, output=out, params=stability_params(),
               wildcards={"concepts": "world"})
    for function, per_neuron_path, summary_path in zip(FUNCTIONS, out["per_neuron"],
                                                       out["summary"]):
        per_neuron = pd.read_parquet(per_neuron_path)
        assert per_neuron["layer"].tolist() == ["layer4"] * 6 + ["fc"] * 2
        s = json.loads(Path(summary_path).read_text())
        assert s["name"] == f"world_world_{function}" and s["neurons"] == 8
        assert (s["function"], s["clip"], s["template"]) == (function, "world", "bare")
        assert list(s["layers"]) == ["layer4", "fc"]
        assert s["k=5->10"] == pytest.approx(100 * per_neuron["same_5_10"].mean())
    summaries = out["summary"]
    out = {name: str(tmp_path / f"table.{name}") for name in ("csv", "json")}
    out.update(png=str(tmp_path / "chart.png"), svg=str(tmp_path / "chart.svg"))
    run_script("stability_table", tmp_path, input={"summaries": summaries}, output=out)
    csv = pd.read_csv(out["csv"])
    assert list(csv.columns) == ["name", "layer", *TABLE_COLUMNS]
    assert csv["name"].tolist() == ["world_world_soft_wpmi"] * 3 + ["world_world_wpmi"] * 3
    table_json = json.loads(Path(out["json"]).read_text())
    assert table_json["columns"] == ["name", "layer", *TABLE_COLUMNS]
    assert len(table_json["rows"]) == 6
    assert Path(out["png"]).stat().st_size > 0 and Path(out["svg"]).stat().st_size > 0


def test_rule_script_names_the_activation_file_with_the_wrong_image_count(tmp_path):
    inputs = write_inputs(tmp_path, n_images=60, fc_images=50)
    out = {"per_neuron": [str(tmp_path / "x.parquet")], "summary": [str(tmp_path / "x.json")]}
    params = {**stability_params(), "functions": ["wpmi"]}
    with pytest.raises(ValueError, match=r"fc\.npz: 50 images, but .*images\.npz has 60"):
        run_script("stability", tmp_path, input=inputs, output=out, params=params,
                   wildcards={"concepts": "world"})
    assert not Path(out["summary"][0]).exists() and not Path(out["per_neuron"][0]).exists()

