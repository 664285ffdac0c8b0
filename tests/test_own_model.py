"""Your model, your images: a random-weight torchvision ResNet-18 on a folder of a few
dozen images through the workflow to the report, without ground truth (no class names)
and with it (class names given afterwards), and the one-call re-run after the folder, a
concept set and a method setting change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.conftest import REPO, dry_run_jobs, run_snakemake

N_IMAGES = 36
RUN = "own-resnet"


def write_images(folder: Path, seed: int, n: int) -> None:
    """``n`` world scenes as PNG files (a stand-in for a user's photos)."""
    from conceptlens.world.generate import SplitSpec, render_images

    folder.mkdir(parents=True, exist_ok=True)
    images, _, _ = render_images(SplitSpec(seed=seed, n_images=n), range(n))
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"photo_{seed}_{i:03d}.png")


def own_config(work: Path, **overrides) -> Path:
    config = {"base": "config.yaml", "run": RUN, "threads": 1,
              "target": {"source": "torchvision", "name": "resnet18", "weights": None},
              "probe": {"source": "folder", "path": str(work / "photos")},
              "layers": ["layer4", "fc"],
              "concept_sets": {"mine": str(work / "my_concepts.txt")},
              "stability": {"layers": ["layer4"]},
              "report": {"choose": {"best": 1, "worst": 1, "random": 1}, "top_images": 2,
                         "explorer_images": 4}}
    config.update(overrides)
    path = work / "own.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """The workflow on a folder of 36 images with a random-weight ResNet-18."""
    work = tmp_path_factory.mktemp("own") / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))
    write_images(work / "photos", seed=7, n=N_IMAGES)
    (work / "my_concepts.txt").write_text("\n".join(
        ["circle", "square", "triangle", "star", "red", "blue", "green", "striped",
         "dotted", "grass", "sky", "wood"]) + "\n")
    proc = run_snakemake("--cores", "2", "--configfile", str(own_config(work)), cwd=work)
    return work, proc


@pytest.mark.slow
def test_a_folder_without_ground_truth_runs_to_the_report(own_run):
    work, proc = own_run
    out = work / "results" / RUN
    assert (out / "report.html").stat().st_size > 10_000
    assert (out / "report.pdf").stat().st_size > 10_000
    # WWW's k = 40 is more than the 36 images: fitted, said at parse time and in the report
    assert "methods.www.k = 40 is more than the 36 probe images: lowered to 36" in proc.stderr
    html = (out / "report.html").read_text()
    assert "lowered to 36" in html
    # no ground truth: Table 1 is left out, with one line saying so
    assert "No layer of this run has ground truth" in html
    assert "Descriptions against the ground truth" not in html
    # every description carries evidence
    evidence = pd.read_parquet(out / "evidence" / "mine" / "table.parquet")
    for method in ("www", "gradcam_tvmf", "soft_wpmi"):
        rows = evidence[evidence["method"] == method]
        assert sorted(rows.groupby("layer")["unit"].count().items()) == [("fc", 1000),
                                                                          ("layer4", 512)]
    assert evidence["simulation_pearson"].notna().mean() > 0.9
    assert "Evidence" in html
    # the grids choose neurons by evidence
    neurons = json.loads((out / "report" / "neurons.json").read_text())
    assert {n["ranked_by"] for n in neurons["neurons"]} == {"evidence"}
    # the explorer: one card per described neuron
    explorer = out / "report" / "explorer" / "index.html"
    assert explorer.is_file() and "explorer/index.html" in html
    from conceptlens.report.explorer import read_explorer_data

    data = read_explorer_data(explorer.parent)
    layers = [layer["name"] for layer in data["layers"]]
    cards = sorted((layers[c["layer"]], c["unit"]) for c in data["cards"])
    assert cards == sorted([("layer4", u) for u in range(512)] + [("fc", u) for u in range(1000)])
    assert all(len(c["methods"]) == 9 for c in data["cards"])  # every method side by side
    # the evidence check has nothing to check without ground truth
    check = pd.read_csv(out / "evidence" / "mine" / "check.csv")
    assert (check["n_hits"] + check["n_misses"] == 0).all()
    assert check["contrast_auc_auroc"].isna().all()


@pytest.mark.slow
def test_one_call_reruns_what_the_folder_a_concept_set_and_a_setting_change(own_run):
    work, _ = own_run
    out = work / "results" / RUN
    before = {name: (out / name).stat().st_mtime_ns for name in
              ("probe/attributes.parquet", "descriptions/mine/www/layer4.parquet",
               "clip/world/text/mine.npz", "report.html")}
    write_images(work / "photos", seed=8, n=6)  # 6 more images in the folder
    with open(work / "my_concepts.txt", "a") as f:
        f.write("cross\nmoon\n")
    # class names for fc (line i names class i): fc gets ground truth
    words = ["circle", "square", "triangle", "star", "cross"]
    (work / "classes.txt").write_text("\n".join(f"{words[i % 5]} {i}" for i in range(1000))
                                      + "\n")
    config = own_config(work, methods={"www": {"k": 10}},
                        target={"source": "torchvision", "name": "resnet18", "weights": None,
                                "class_names": "classes"},
                        concept_sets={"mine": str(work / "my_concepts.txt"),
                                      "classes": str(work / "classes.txt")})
    assert dry_run_jobs(run_snakemake("-n", "--configfile", str(config), cwd=work).stdout)
    run_snakemake("--cores", "2", "--configfile", str(config), cwd=work)
    for name, mtime in before.items():
        assert (out / name).stat().st_mtime_ns > mtime, name
    index = pd.read_parquet(out / "probe" / "attributes.parquet")
    assert len(index) == N_IMAGES + 6
    concepts = np.load(out / "clip" / "world" / "text" / "mine.npz")["concepts"]
    assert {"cross", "moon"} <= set(concepts)
    table1 = pd.read_csv(out / "metrics" / "mine" / "table1.csv")
    assert set(table1["layer"]) == {"fc"}  # class names: fc has ground truth, layer4 not
    html = (out / "report.html").read_text()
    assert "Descriptions against the ground truth" in html
    # one call did it all: nothing is left to do
    again = run_snakemake("-n", "--configfile", str(config), cwd=work)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]


@pytest.mark.slow
def test_a_vision_transformer_runs_through_the_workflow(tmp_path):
    """A random-weight torchvision vit_b_16: its last block's token outputs are reduced
    over patch tokens, Grad-CAM reshapes them to the patch grid, every stage runs."""
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))
    write_images(work / "photos", seed=9, n=12)
    (work / "my_concepts.txt").write_text("circle\nsquare\nred\nblue\nstriped\ngrass\n")
    block = "encoder.layers.encoder_layer_11"
    config = own_config(work, run="own-vit", layers=[block],
                        target={"source": "torchvision", "name": "vit_b_16", "weights": None},
                        views={"gradcam_layer": block},
                        stability={"layers": [block], "functions": []},
                        report={"choose": {"best": 1, "worst": 0, "random": 0},
                                "top_images": 1, "explorer_images": 2})
    run_snakemake("--cores", "2", "--configfile", str(config), cwd=work)
    out = work / "results" / "own-vit"
    described = pd.read_parquet(out / "descriptions" / "mine" / "www" / f"{block}.parquet")
    assert len(described) == 768
    maps = np.load(out / "report" / "neuron_maps" / f"{block}.npz")
    assert maps["maps"].shape == (768, 2, 14, 14)  # the 14 x 14 patch grid
    evidence = pd.read_parquet(out / "evidence" / "mine" / "table.parquet")
    assert set(evidence["layer"]) == {block} and len(evidence) == 768 * 9
    assert (out / "report.pdf").stat().st_size > 10_000
