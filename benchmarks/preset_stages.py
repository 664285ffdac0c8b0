"""Per-stage throughput of the paper preset's DAG (configs/imagenet-resnet50.yaml) with
random-weight real architectures (torchvision resnet50, open_clip ViT-B-32 and ViT-B-16)
on generated images, and the time and disk use this predicts for full ImageNet val.

    python benchmarks/preset_stages.py [--images 256] [--device auto] [--precision autocast]

Runs the real workflow (snakemake) in a scratch copy, reads each job's ``benchmark:`` file
and prints images (or concepts) per second per stage.  On a GPU machine this gives the
README's GPU estimate; on the 2-core CPU it shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "concept_sets"
FULL_IMAGES = 50_000
FULL_CONCEPTS = {"imagenet": 1_000, "broden": 1_197, "wordnet": 82_115}


def generate_images(root: Path, n: int, seed: int = 0) -> None:
    """``n`` JPEGs of ImageNet-like sizes (shorter side 333-500 px) in wnid folders."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / f"n{1440764 + i % 10:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        w, h = int(rng.integers(333, 500)), int(rng.integers(333, 500))
        base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        pixels = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]
        Image.fromarray(pixels).save(folder / f"img_{i:05d}.JPEG", quality=90)


def overlay(tmp: Path, n_images: int, device: str, precision: str, wordnet_concepts: int) -> dict:
    words = SHARED / "20k.txt"
    wordnet = tmp / "wordnet_subset.txt"
    wordnet.write_text("\n".join(words.read_text().split()[:wordnet_concepts]) + "\n")
    return {
        "base": "configs/imagenet-resnet50.yaml", "run": "preset-benchmark",
        "device": device, "precision": precision, "threads": 2, "batch_size": 64,
        "loader_workers": 2,
        "target": {"weights": None}, "probe": {"path": str(tmp / "val")},
        "layers": ["layer4", "fc"],
        "clip_models": {"vitb32": {"pretrained": None}, "vitb16": {"pretrained": None}},
        "concept_sets": {"imagenet": str(SHARED / "imagenet_labels.txt"),
                         "broden": str(SHARED / "broden_labels_clean.txt"),
                         "wordnet": str(wordnet)},
        "metrics": {"sentence_model": "all-MiniLM-L6-v2"},
        "convis": {"hierarchy": "world"},
        "report": {"choose": {"best": 1, "worst": 1, "random": 0}},
    }


def stage_table(results: Path, n_images: int) -> pd.DataFrame:
    """One row per job: seconds, peak memory and the number of items it processed."""
    rows = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        bench = pd.read_csv(tsv, sep="\t").iloc[0]
        name = tsv.relative_to(results / "benchmarks").with_suffix("").as_posix()
        rows.append({"job": name, "seconds": float(bench["s"]), "max_rss_mb": float(bench["max_rss"])})
    table = pd.DataFrame(rows)
    table["items"] = [_items(job, n_images, results) for job in table["job"]]
    table["items_per_s"] = table["items"] / table["seconds"]
    return table


def _items(job: str, n_images: int, results: Path) -> float:
    if job.startswith("clip_text_embeddings/"):  # concepts x templates embedded
        _, clip, concepts = job.split("/")
        path = results / "concepts" / f"{concepts}.txt"
        embedded = results / "clip" / clip / "text" / f"{concepts}.npz"
        if not (path.exists() and embedded.exists()):
            return np.nan
        with np.load(embedded) as data:  # one "<template>.embeddings" array a template
            templates = sum(name.endswith(".embeddings") for name in data.files)
        return float(len(path.read_text().splitlines()) * templates)
    if job.startswith(("views/", "activations/", "probe_index", "clip_image_embeddings/")):
        return float(n_images)
    return np.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="autocast", choices=("float32", "autocast"))
    parser.add_argument("--wordnet-concepts", type=int, default=5000,
                        help="size of the stand-in for the 82k WordNet set")
    parser.add_argument("--cores", default="all")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (reference concept sets beside the checkout)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        generate_images(tmp / "val", args.images)
        work = tmp / "wf"
        shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
            ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))
        cfg = overlay(tmp, args.images, args.device, args.precision, args.wordnet_concepts)
        (work / "benchmark.yaml").write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", args.cores,
                               "--configfile", "benchmark.yaml"], cwd=work, text=True,
                              capture_output=True)
        if proc.returncode:
            sys.exit(proc.stdout[-4000:] + proc.stderr[-4000:])
        results = work / "results" / "preset-benchmark"
        table = stage_table(results, args.images)
        disk = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                for p in results.iterdir() if p.is_dir()}
    pd.set_option("display.width", 160)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    image_jobs = table[table["items"] == args.images]
    per_image = image_jobs["seconds"].sum() / args.images
    print(f"\nimage stages: {per_image * 1000:.1f} ms per image in all -> "
          f"{per_image * FULL_IMAGES / 3600:.2f} h for {FULL_IMAGES:,} images")
    text = table[table["job"].str.startswith("clip_text_embeddings/")]
    if len(text):
        rate = text["items"].sum() / text["seconds"].sum()
        total = sum(FULL_CONCEPTS.values()) * 2  # photo template + metric CLIP
        print(f"text embeddings: {rate:.0f} concepts/s -> {total / rate / 60:.1f} min for the "
              f"preset's concept sets")
    print("disk use by folder (bytes, this run):", json.dumps(disk))
    if args.json:
        args.json.write_text(table.to_json(orient="records", indent=2))


if __name__ == "__main__":
    main()
