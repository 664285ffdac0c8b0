"""benchmarks/gpu_check.sh, the GPU check: its DAG overlay is a valid config of the
ImageNet preset, and on the CPU with tiny sizes it writes one JSON file with every image
stage's throughput against its bare pass and the DAG's per-job times."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conceptlens.config import load_config
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_check  # noqa: E402

STAGES = ("activations", "gradcam", "neuron_maps", "clip_image_embeddings", "convis_windows")


def test_dag_overlay_is_a_valid_preset_config_with_random_weights(tmp_path):
    full = gpu_check.SIZES["full"]
    concepts = gpu_check.concept_files(tmp_path / "concepts", full)
    assert len(concepts["imagenet"].read_text().splitlines()) == 1000  # line i = fc unit i
    for name in ("broden", "wordnet"):
        lines = concepts[name].read_text().splitlines()
        assert len(lines) == full["concept_sets"][name]
        assert len(set(lines)) == len(lines)
    (tmp_path / "val").mkdir()
    overlay = gpu_check.dag_overlay(tmp_path / "val", concepts, "cpu", "float32", full)
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    config = load_config(path)
    assert config["target"]["name"] == "resnet50" and config["target"]["weights"] is None
    assert config["target"]["class_names"] == "imagenet"
    assert [c["name"] for c in config["clip_models"].values()] == ["ViT-B-32", "ViT-B-16"]
    assert all(c["pretrained"] is None for c in config["clip_models"].values())
    assert config["probe"]["source"] == "imagenet"
    assert config["layers"] == ["layer4", "fc"]
    assert set(config["concept_sets"]) == {"imagenet", "broden", "wordnet"}


def test_tiny_overlay_keeps_the_presets_rules_on_small_models_and_one_concept_set(tmp_path):
    tiny = gpu_check.SIZES["tiny"]
    concepts = gpu_check.concept_files(tmp_path / "concepts", tiny)
    assert set(concepts) == {"wordnet"}
    assert len(set(concepts["wordnet"].read_text().splitlines())) == tiny["concept_sets"]["wordnet"]
    (tmp_path / "val").mkdir()
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(gpu_check.dag_overlay(tmp_path / "val", concepts, "cpu",
                                                         "float32", tiny)))
    config = load_config(path)
    assert config["target"]["name"] == "resnet18" and config["target"]["class_names"] is None
    assert [c["name"] for c in config["clip_models"].values()] == ["ViT-S-32", "ViT-S-16"]
    assert list(config["concept_sets"]) == ["wordnet"]
    assert config["report"]["concept_set"] == "wordnet"
    assert config["layers"] == ["layer4"]
    assert config["stability"]["functions"] == []  # the preset has no stability study


def test_generated_probe_set_is_imagenet_layout(tmp_path):
    from conceptlens.probes import probe_index_and_classes

    gpu_check.generate_images(tmp_path, 12, 40, 60, 1)
    table, classes = probe_index_and_classes({"source": "imagenet", "path": str(tmp_path)})
    assert len(table) == 12 and len(classes) == gpu_check.WNIDS
    assert table["width"].between(40, 60).all() and table["height"].between(40, 60).all()


@pytest.mark.slow
def test_gpu_check_tiny_on_cpu_writes_every_stage_and_the_dags_jobs(tmp_path):
    out = tmp_path / "check.json"
    env = {**os.environ, "CONCEPTLENS_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--device", "cpu",
                           "--tiny", "--out", str(out)], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["machine"]["device"] == "cpu" and result["machine"]["torch"]
    assert result["goal_ratio"] == 0.7 and result["goal_applies"] is False
    for name in STAGES:
        stage = result["stages"][name]
        assert stage["per_s"] > 0 and stage["bare_per_s"] > 0, name
        assert stage["ratio"] == pytest.approx(stage["per_s"] / stage["bare_per_s"], rel=0.01)
        assert isinstance(stage["goal_met"], bool)
    dag = result["dag"]
    assert dag["returncode"] == 0 and not dag["timed_out"]
    assert dag["images"] == gpu_check.SIZES["tiny"]["dag_images"] and dag["wall_s"] > 0
    jobs = {job["job"].split("[")[0]: job for job in dag["jobs"]}
    for rule in ("probe_index", "activations", "clip_image_embeddings", "describe", "metrics",
                 "convis_maps"):
        assert rule in jobs, rule
        assert jobs[rule]["seconds"] is not None and jobs[rule]["seconds"] >= 0
    bench = {b["job"] for b in dag["benchmarks"]}
    assert any(b.startswith("activations") for b in bench)
    assert all(b["seconds"] > 0 for b in dag["benchmarks"])
    assert result["total_s"] < result["budget_s"]


def test_gpu_check_sh_rejects_an_unknown_device():
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--device", "tpu"],
                          cwd=REPO, text=True, capture_output=True)
    assert proc.returncode == 2 and "cuda or cpu" in proc.stderr
