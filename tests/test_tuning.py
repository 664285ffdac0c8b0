"""kappa: tuned is chosen on the world's tuning split, never on the evaluated probe split:
the split's own images, the config checks, the choice, the DAG and the describe stage."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import yaml

from conceptlens.config import (
    ConfigError,
    check_tuning,
    default_config,
    load_config,
    untuned_off_world,
)
from conceptlens.methods import PAPER_KAPPA, method_settings
from conceptlens.tuning import choose, choose_kappa, layer_mean, resolve_kappa, sweep_summary
from tests.conftest import REPO, run_snakemake


def _write(tmp_path, config: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _one_line_error(path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert len(message.splitlines()) == 1, message
    return message


# ----------------------------------------------------------------- the tuning split


def _image_digests(seed: int, n: int) -> set[str]:
    from conceptlens.world.generate import SplitSpec, render_images

    images, _, _ = render_images(SplitSpec(seed=seed, n_images=n, image_size=64), range(n))
    return {hashlib.sha256(image.tobytes()).hexdigest() for image in images}


@pytest.mark.parametrize("config_file", ["config.yaml", "configs/tiny-world.yaml"])
def test_the_tuning_split_draws_other_images_than_the_probe(config_file):
    config = yaml.safe_load((REPO / config_file).read_text())
    world = {**default_config()["world"], **config.get("world", {})}
    assert world["tuning_seed"] != world["probe_seed"]
    assert world["tuning_images"] == 500
    # each image i of a split is drawn from (seed, i): the same ids, other pictures
    tuning, probe = _image_digests(world["tuning_seed"], 40), _image_digests(
        world["probe_seed"], 40)
    assert len(tuning) == 40 and len(probe) == 40
    assert not tuning & probe


def test_equal_tuning_and_probe_seeds_are_a_one_line_config_error(tmp_path):
    message = _one_line_error(_write(tmp_path, {"run": "x", "world": {"probe_seed": 5,
                                                                       "tuning_seed": 5}}))
    assert "world.tuning_seed and world.probe_seed: both 5" in message


def test_kappa_is_a_number_or_tuned(tmp_path):
    method = {"family": "www", "view": "center", "similarity": "tvmf", "template": "photo"}
    config = {"run": "x", "templates": {"photo": "A photo of a {}", "bare": "{}"},
              "methods": {"m": {**method, "kappa": "tune"}}}
    with pytest.raises(ConfigError, match=r"methods\.m\.kappa: 'tune' is not a number >= 0 "
                                          r"or 'tuned'"):
        load_config(_write(tmp_path, config))
    config["methods"]["m"]["kappa"] = "tuned"
    assert load_config(_write(tmp_path, config))["methods"]["m"]["kappa"] == "tuned"


def test_tuned_kappa_without_planted_ground_truth_is_a_one_line_error():
    config = {"target": {"source": "torchvision", "name": "resnet50"},
              "probe": {"source": "folder", "path": "images"},
              "methods": {"t": {"family": "www", "view": "center", "similarity": "tvmf",
                                "kappa": "tuned", "template": "photo"}}}
    with pytest.raises(ConfigError) as err:
        check_tuning(config, method_settings(config))
    assert str(err.value).startswith("config key methods.t.kappa: 'tuned'")
    assert len(str(err.value).splitlines()) == 1
    config["methods"]["t"]["kappa"] = 1  # a number is fine anywhere
    check_tuning(config, method_settings(config))


def test_an_overlay_of_config_yaml_for_another_model_gets_the_papers_kappa():
    """config.yaml's own tuned methods, inherited by an own-model overlay, are no error:
    they run with the paper's kappa, and a note says so."""
    config = {**default_config(), "target": {"source": "torchvision", "name": "resnet50"},
              "probe": {"source": "folder", "path": "images"}}
    methods = method_settings(config)
    check_tuning(config, methods)
    fitted, notes = untuned_off_world(config, methods)
    assert fitted["gradcam_tvmf"]["kappa"] == fitted["center_tvmf"]["kappa"] == PAPER_KAPPA
    assert [n.split(" ")[0] for n in notes] == ["methods.gradcam_tvmf.kappa",
                                                 "methods.center_tvmf.kappa"]
    world = default_config()
    assert untuned_off_world(world, method_settings(world)) == (method_settings(world), [])


def test_the_default_config_tunes_both_tvmf_methods():
    methods = default_config()["methods"]
    assert methods["gradcam_tvmf"]["kappa"] == methods["center_tvmf"]["kappa"] == "tuned"


# ------------------------------------------------------------------------ the choice


def test_the_best_kappa_wins_and_ties_go_to_the_papers():
    assert PAPER_KAPPA == 1.0
    assert choose_kappa({0.5: 0.2, 1.0: 0.3, 4.0: 0.4}) == 4.0
    assert choose_kappa({0.5: 0.4, 1.0: 0.4, 4.0: 0.4}) == 1.0
    # no 1 among the tied: the closest to it on a log scale, then the smaller
    assert choose_kappa({0.25: 0.4, 2.0: 0.4, 16.0: 0.4, 1.0: 0.1}) == 2.0
    assert choose_kappa({0.5: 0.4, 2.0: 0.4}) == 0.5
    assert choose_kappa({0.0: 0.4, 8.0: 0.4}) == 8.0  # cosine (0) is furthest
    assert choose_kappa({2.0: float("nan"), 4.0: 0.1}) == 4.0
    assert choose_kappa({2.0: float("nan")}) == 1.0  # no ground truth: the paper's
    assert choose({0.4: 0.5, 0.5: 0.5, 0.6: 0.2}, 0.5) == 0.5
    # within the tolerance of the best: a tie
    assert choose_kappa({1.0: 0.700, 8.0: 0.703}, tolerance=0.005) == 1.0
    assert choose_kappa({1.0: 0.700, 8.0: 0.706}, tolerance=0.005) == 8.0
    assert choose_kappa({0.5: 0.700, 4.0: 0.703, 8.0: 0.7031}, tolerance=0.005) == 0.5


def test_the_sweep_scores_the_mean_over_layers_with_ground_truth():
    layers = {"layer4": {"f1": 0.5, "hit_rate": 0.6, "n_neurons": 60},
              "fc": {"f1": 0.9, "hit_rate": 1.0, "n_neurons": 10},
              "layer3": {"f1": float("nan"), "hit_rate": float("nan"), "n_neurons": 0}}
    assert layer_mean(layers, "f1") == pytest.approx(0.7)
    rows = [{"kappa": 1.0, "layers": layers},
            {"kappa": 2.0, "layers": {**layers, "fc": {**layers["fc"], "f1": 1.0}}}]
    summary = sweep_summary(rows, "kappa", "f1", 1.0)
    assert summary["chosen"] == summary["best"] == 2.0
    tied = sweep_summary(rows, "kappa", "f1", 1.0, tolerance=0.1)
    assert (tied["chosen"], tied["best"]) == (1.0, 2.0)
    assert [r["score"] for r in summary["sweep"]] == pytest.approx([0.7, 0.75])


def test_the_choice_depends_on_the_tuning_metrics_only():
    """The selection takes the tuning split's sweep and nothing else: metrics of the probe
    split, whatever they say, cannot reach it."""
    tuning = [{"kappa": k, "layers": {"fc": {"f1": f, "n_neurons": 10}}}
              for k, f in ((0.5, 0.2), (1.0, 0.5), (4.0, 0.6))]
    assert sweep_summary(tuning, "kappa", "f1", PAPER_KAPPA)["chosen"] == 4.0


# ------------------------------------------------------------------------------ the DAG


def _job_inputs(dry_run: str, rule: str) -> list[str]:
    block = dry_run.split(f"rule {rule}:")[1]
    line = next(line for line in block.splitlines() if line.strip().startswith("input:"))
    return [p.strip() for p in line.split("input:", 1)[1].split(",")]


@pytest.fixture(scope="module")
def tiny_dry_run() -> str:
    return run_snakemake("-n", "--forceall", "--configfile", "configs/tiny-world.yaml").stdout


def test_the_tuning_job_reads_no_file_of_the_probe_split(tiny_dry_run):
    inputs = _job_inputs(tiny_dry_run, "tune_kappa")
    run = "results/tiny-world/"
    assert f"{run}world/tuning" in inputs
    probe_derived = ("world/probe", "activations/", "topk/", "views/", "images.npz",
                     "ground_truth/", "descriptions/", "metrics/", "evidence/")
    assert not [p for p in inputs if any(part in p for part in probe_derived)], inputs
    # besides the tuning split: the checkpoints and the concept texts' embeddings
    assert all(p == f"{run}world/tuning" or p.endswith((".pt", "text/world.npz"))
               for p in inputs), inputs


def test_the_tuning_split_has_its_own_seed_job(tiny_dry_run):
    splits = [block for block in tiny_dry_run.split("rule world_split:")[1:]]
    outputs = [next(line for line in b.splitlines() if "output:" in line) for b in splits]
    assert sorted(o.split("/")[-1] for o in outputs) == ["probe", "tuning"]


def test_tuned_methods_describe_with_the_tuning_jobs_kappa(tiny_dry_run):
    assert "results/tiny-world/tuning/kappa.json" in _job_inputs(tiny_dry_run, "describe")
    assert "results/tiny-world/tuning/kappa.json" in _job_inputs(tiny_dry_run, "evidence")


def test_no_tuning_job_without_tuned_methods(tmp_path):
    overlay = _write(tmp_path, {"base": "configs/tiny-world.yaml", "methods": {
        "gradcam_tvmf": {"kappa": 1}, "center_tvmf": {"kappa": 2}}})
    proc = run_snakemake("-n", "--forceall", "--configfile", str(overlay))
    assert "rule tune_kappa:" not in proc.stdout
    assert "world/tuning" not in proc.stdout


# ------------------------------------------------------------------ the describe stage


def test_the_describe_stage_takes_kappa_from_the_tuning_file(tmp_path):
    from conceptlens.io.embeddings import save_image_embeddings, save_text_embeddings
    from conceptlens.io.topk import save_topk
    from conceptlens.stages.describe import describe_plan

    rng = np.random.default_rng(0)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    concepts = [f"c{i}" for i in range(12)]
    save_text_embeddings(tmp_path / "text.npz", concepts, {"photo": (
        "A photo of a {}", unit(rng.normal(size=(12, 8))), unit(rng.normal(size=8)))})
    save_image_embeddings(tmp_path / "images.npz",
                          {"center.topk": (np.arange(30), unit(rng.normal(size=(30, 8))))})
    topk = rng.permuted(np.tile(np.arange(30), (6, 1)), axis=1)[:, :5]
    save_topk(tmp_path / "topk.npz", topk, np.ones(topk.shape), topk, np.ones(topk.shape))
    (tmp_path / "kappa.json").write_text(json.dumps({"methods": {"t": {"kappa": 16.0}}}))
    settings = {"family": "www", "view": "center", "similarity": "tvmf", "template": "photo",
                "clip_model": "world", "k": 5, "alpha": 0.5}

    def scores(kappa, tuning=None):
        inputs = {"text": tmp_path / "text.npz", "images": tmp_path / "images.npz",
                  "topk": tmp_path / "topk.npz", **({"tuning": tuning} if tuning else {})}
        step = {"method": "t", "layer": "l", "settings": {**settings, "kappa": kappa},
                "image_set": "center.topk", "template": "photo", "inputs": inputs}
        return next(describe_plan([step]))[1]

    tuned = scores("tuned", tmp_path / "kappa.json")
    np.testing.assert_array_equal(tuned, scores(16.0))
    assert not np.allclose(tuned, scores(1.0))
    with pytest.raises(ValueError, match="tuning/kappa.json"):
        scores("tuned")
    with pytest.raises(ValueError, match="no kappa tuned for method u"):
        resolve_kappa("u", {"kappa": "tuned"}, tmp_path / "kappa.json")
