"""The papers' presets: dry runs, the offline message, and the ImageNet preset's whole DAG
on CPU with random-weight real architectures (torchvision resnet50, open_clip ViT-B-32 and
ViT-B-16) on 16 generated images in the ImageNet folder layout."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conceptlens.config import load_config
from conceptlens.offline import missing_requirements
from tests.conftest import REPO, SHARED, dry_run_jobs, run_snakemake

PRESETS = ("configs/imagenet-resnet50.yaml", "configs/broden-clipdissect.yaml")
WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")


def test_imagenet_preset_dry_run_lists_the_papers_grid():
    out = run_snakemake("-n", "--configfile", PRESETS[0]).stdout
    jobs = dry_run_jobs(out)
    assert "check_requirements" not in jobs  # checked when a run starts (onstart)
    assert jobs["probe_index"] == 1
    assert "world_split" not in jobs and "world_concepts" not in jobs
    # 3 concept sets (ImageNet, Broden, WordNet) x 4 methods (WWW, Grad-CAM + t-vMF and the
    # two ablations) on fc; one metrics table each; WordNet hierarchy for ConVis.
    assert jobs["describe"] == 3  # one a concept set, each with its 4 methods
    described = set(re.findall(r"descriptions/[^,\s]+/fc\.parquet", out))
    assert len(described) == 3 * 4
    assert jobs["metrics"] == 3
    assert jobs["wordnet_hierarchy"] == 1
    assert jobs["activations"] == 1  # ResNet-50's Grad-CAM and its 3 views, one job
    assert jobs["clip_image_embeddings"] == 1  # ViT-B-32's centre and Grad-CAM top-k sets
    assert jobs["report"] == 1
    assert "stability" not in jobs


def test_broden_preset_dry_run_lists_the_stability_study():
    jobs = dry_run_jobs(run_snakemake("-n", "--configfile", PRESETS[1]).stdout)
    assert jobs["stability"] == 2  # {imagenet, 10k}, each with soft_wpmi and wpmi
    assert jobs["stability_table"] == 1
    assert jobs["describe"] == 2  # 2 concept sets, each: 5 functions x {layer4, fc}
    assert "convis_localisation" not in jobs  # needs the world's object boxes


@pytest.mark.parametrize(("preset", "expected"), [
    (PRESETS[0], ["torchvision weights resnet50 IMAGENET1K_V2", "target.path",
                  "CLIP weights ViT-B-32 openai", "clip_models.vitb32.pretrained",
                  "CLIP weights ViT-B-16 openai", "clip_models.vitb16.pretrained",
                  "sentence model 'all-mpnet-base-v2'", "metrics.sentence_model", "probe.path",
                  "concept_sets.imagenet", "concept_sets.broden"]),
    (PRESETS[1], ["torchvision weights resnet50 IMAGENET1K_V1", "CLIP weights ViT-B-16 openai",
                  "probe.path", "concept_sets.imagenet", "concept_sets.10k"]),
])
def test_offline_preset_names_every_missing_item_and_its_key(preset, expected, monkeypatch,
                                                             tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # empty download caches
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    missing = missing_requirements(load_config(REPO / preset))
    text = "\n".join(m.line() for m in missing)
    for needle in expected:
        assert needle in text, needle
    # WordNet is installed here (wordnet-base), so the derived set is not missing
    assert "concept_sets.wordnet" not in text


def test_offline_run_stops_before_the_first_job_with_one_message(tmp_path):
    proc = run_snakemake("--cores", "1", "--configfile", PRESETS[0], "--config",
                         f"run=offline-{tmp_path.name}", check=False)
    log = REPO / "results" / f"offline-{tmp_path.name}" / "logs" / "check_requirements.log"
    try:
        assert proc.returncode != 0
        text = log.read_text()
        assert "needs" in text and "item(s) that are neither on this machine" in text
        for key in ("target.path", "clip_models.vitb32.pretrained", "probe.path",
                    "metrics.sentence_model", "concept_sets.broden"):
            assert key in text, key
        # nothing ran after the check: no probe index, no views
        run_dir = log.parents[1]
        assert not (run_dir / "probe").exists() and not (run_dir / "views").exists()
    finally:
        shutil.rmtree(REPO / "results" / f"offline-{tmp_path.name}", ignore_errors=True)


def _imagenet_folder(root, per_class: int = 4) -> None:
    """16 images in ImageNet's wnid-folder layout, of varied (non-square) sizes."""
    rng = np.random.default_rng(0)
    for c, wnid in enumerate(WNIDS):
        (root / wnid).mkdir(parents=True)
        for i in range(per_class):
            w, h = 96 + 16 * i, 80 + 8 * c
            pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / wnid / f"ILSVRC2012_val_{c * 10 + i:08d}.JPEG")


@pytest.fixture(scope="module")
def imagenet_preset_run(tmp_path_factory):
    """The ImageNet preset's DAG on 16 generated images with random-weight architectures
    and small local concept files (the downloads replaced by paths)."""
    if not (SHARED / "concept_sets" / "imagenet_labels.txt").is_file():
        pytest.skip(f"needs {SHARED}/concept_sets (the project's reference data)")
    tmp = tmp_path_factory.mktemp("preset")
    _imagenet_folder(tmp / "val")
    concepts = tmp / "concepts"
    concepts.mkdir()
    (concepts / "broden.txt").write_text("dog\nwater\nsky\nstriped\nred\ngrass\nwood\n")
    (concepts / "wordnet.txt").write_text("entity\nfish\ntench\nshark\nanimal\nplant\ncar\n")
    work = tmp / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))
    overlay = {
        "base": "configs/imagenet-resnet50.yaml",
        "run": "preset-cpu", "threads": 2, "device": "cpu", "precision": "float32",
        "batch_size": 8, "loader_workers": 0,
        "target": {"weights": None},
        "probe": {"path": str(tmp / "val")},
        "layers": ["layer4", "fc"],
        "clip_models": {"vitb32": {"pretrained": None}, "vitb16": {"pretrained": None}},
        "concept_sets": {"imagenet": str(SHARED / "concept_sets" / "imagenet_labels.txt"),
                         "broden": str(concepts / "broden.txt"),
                         "wordnet": str(concepts / "wordnet.txt")},
        "methods": {m: {"k": 8} for m in ("www", "gradcam_tvmf", "gradcam_cos", "center_tvmf")},
        "metrics": {"sentence_model": "all-MiniLM-L6-v2"},
        "convis": {"hierarchy": "world", "window_sizes": [160, 112], "stride": 48},
        "report": {"choose": {"best": 1, "worst": 1, "random": 0}, "top_images": 4,
                   "figure4_images": 2},
    }
    (work / "test-overlay.yaml").write_text(yaml.safe_dump(overlay))
    run_snakemake("--cores", "2", "--configfile", "test-overlay.yaml", cwd=work)
    return work / "results" / "preset-cpu"


@pytest.mark.slow
def test_imagenet_preset_runs_end_to_end_on_random_weights(imagenet_preset_run):
    out = imagenet_preset_run
    index = pd.read_parquet(out / "probe" / "attributes.parquet")
    assert len(index) == 16
    assert sorted(set(index["label"])) == [0, 1, 2, 3]  # sorted wnid folders
    assert set(index["width"]) == {96, 112, 128, 144}
    gt = pd.read_parquet(out / "ground_truth" / "neurons.parquet")
    assert set(gt["layer"]) == {"fc"} and len(gt) == 1000
    assert gt.loc[gt["unit"] == 0, "synonyms"].item() == "tench|Tinca tinca"
    boxes = pd.read_parquet(out / "views" / "gradcam" / "boxes.parquet")
    side = boxes["x1"] - boxes["x0"]
    assert (side == (boxes["y1"] - boxes["y0"])).all()
    # the Grad-CAM window is the centre crop's size: 0.875 of each image's shorter side
    assert np.allclose(side, np.round(0.875 * np.minimum(index["width"], index["height"])))
    assert (boxes["x1"] <= index["width"]).all() and (boxes["y1"] <= index["height"]).all()
    for concept_set in ("imagenet", "broden", "wordnet"):
        table = pd.read_csv(out / "metrics" / concept_set / "table1.csv")
        assert set(table["method"]) >= {"www", "gradcam_tvmf"}
        described = pd.read_parquet(out / "descriptions" / concept_set / "www" / "layer4.parquet")
        assert len(described) == 2048
    ablation = pd.read_csv(out / "metrics" / "wordnet" / "ablation.csv")
    assert len(ablation) >= 4
    html = (out / "report.html").read_text()
    assert "(published)" in html  # the papers' numbers beside the measured ones
    assert (out / "report.pdf").stat().st_size > 10_000
    checked = json.loads((out / "checks" / "requirements.json").read_text())
    assert checked["target"]["name"] == "resnet50"
