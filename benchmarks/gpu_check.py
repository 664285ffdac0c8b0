"""GPU check: each image stage's throughput against the bare forward pass of the same model,
and the ImageNet preset's DAG end to end on generated images, written to one JSON file.

    python benchmarks/gpu_check.py [--device cuda|cpu] [--tiny] [--out results/gpu_check.json]

Run through ``benchmarks/gpu_check.sh``, which finds or makes the Python environment first.
Every model is a real architecture with random weights (torchvision ResNet-50, open_clip
ViT-B-32 and ViT-B-16; with ``--tiny`` ResNet-18, ViT-S-32 and ViT-S-16, see ``SIZES``):
nothing is downloaded.

(a) Stages, in this process, each on the same generated JPEGs through the library function
its rule's script calls (images read and cropped by the DataLoader workers included):

- ``activations``: :func:`conceptlens.stages.target_pass.target_pass`, the centre view's
  layer4 + fc of ResNet-50, at the preset's precision;
- ``gradcam``: :func:`conceptlens.views.gradcam_boxes`, Grad-CAM at layer4 and the windows
  (float32, as the pass runs it);
- ``clip_image_embeddings``: :func:`conceptlens.embeddings.embed_view_images`, ViT-B-32 on
  the centre view;
- ``convis_windows``: :func:`conceptlens.convis.convis_maps`, ViT-B-16 on every window of
  the preset's scales (128 and 64 px, stride 16) against a hierarchy, in windows/s;
- ``neuron_maps``: :func:`conceptlens.stages.neuron_maps.neuron_maps`, ResNet-50 on each
  neuron's top images with layer4 hooked.

Each is set against the bare pass of the same model at the same batch size and precision
on random tensors already on the device: ``model(x)`` under ``torch.no_grad``
(``clip.encode_image(x)`` for the CLIPs).  Grad-CAM cannot run without a backward pass, so
its goal is judged against the bare forward + backward from layer4 (what Grad-CAM needs at
least); its ratio to the bare forward alone is given too.  The goal: every stage at 70% of
its bare pass or more (``goal_met``; on a GPU only: on the CPU the numbers are a smoke test).

(b) The DAG: N generated JPEGs in ImageNet's wnid-folder layout are the probe set of
configs/imagenet-resnet50.yaml (overridden: random weights, layers layer4 + fc, generated
concept sets, the world hierarchy for ConVis, a one-neuron report choice; ``--tiny``: the
smaller architectures, layer4 alone, the wordnet set alone, no class names); snakemake runs it
in a scratch copy of the checkout and each job's time comes from its log
(:mod:`conceptlens.run_timeline`) and its ``benchmark:`` file.

A time guard keeps the whole under ``--budget-s`` (default 450 s, 8 minutes less set-up;
600 s with ``--tiny``):
stage measurements stop early past their share, and the DAG's snakemake is stopped when the
budget runs out (the JSON then says ``timed_out`` and keeps the jobs that finished).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOAL = 0.70
RUN = "gpu-check"
WNIDS = 10  # wnid folders of the generated probe set

#: sizes on a GPU (the default) and with --tiny (a CPU smoke test of a few CPU minutes).
#: The full sizes are the preset's models (ResNet-50, CLIP ViT-B-32 and ViT-B-16) and its
#: three concept sets; --tiny keeps every rule and stage function of the preset but runs
#: them on small random-init architectures of the same families (ResNet-18, ViT-S-32,
#: ViT-S-16), 24 small images, one described layer (layer4) and one concept set (the
#: report's, wordnet, of 24 words; the other two left out with ``false``), no class names.
SIZES = {
    "full": {"dag_images": 5000, "stage_images": 4096, "convis_images": 16,
             "hierarchy_nodes": 20_000, "batch_size": 256, "workers": 8, "threads": 8,
             "target": "resnet50", "clip_www": "ViT-B-32", "clip_metric": "ViT-B-16",
             "layers": ["layer4", "fc"], "class_names": "imagenet",
             "concept_sets": {"imagenet": 1000, "broden": 1197, "wordnet": 5000},
             "window_sizes": [128, 64], "stride": 16, "k": 40, "top_images": 4,
             "min_side": 333, "max_side": 500},
    "tiny": {"dag_images": 24, "stage_images": 8, "convis_images": 1,
             "hierarchy_nodes": 50, "batch_size": 4, "workers": 0, "threads": 2,
             "target": "resnet18", "clip_www": "ViT-S-32", "clip_metric": "ViT-S-16",
             "layers": ["layer4"], "class_names": None,
             "concept_sets": {"wordnet": 24},
             "window_sizes": [224, 160], "stride": 112, "k": 4, "top_images": 2,
             "min_side": 96, "max_side": 160},
}
#: the preset's concept sets (a size's ``concept_sets`` names those it keeps)
PRESET_SETS = ("imagenet", "broden", "wordnet")


# ------------------------------------------------------------------------------ images


def _write_images(args: tuple[Path, int, int, int, int]) -> None:
    root, start, stop, low, high = args
    from PIL import Image

    for i in range(start, stop):
        rng = np.random.default_rng(i)
        w, h = (int(v) for v in rng.integers(low, high + 1, 2))
        base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        pixels = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]
        folder = root / f"n{1440764 + i % WNIDS:08d}"
        Image.fromarray(pixels).save(folder / f"ILSVRC2012_val_{i:08d}.JPEG", quality=90)


def generate_images(root: Path, n: int, low: int, high: int, workers: int) -> float:
    """``n`` JPEGs of blocky noise, sides ``low``-``high`` px, in wnid folders; seconds."""
    start = time.perf_counter()
    for c in range(WNIDS):
        (root / f"n{1440764 + c:08d}").mkdir(parents=True, exist_ok=True)
    chunk = max(1, -(-n // max(1, workers)))
    jobs = [(root, s, min(n, s + chunk), low, high) for s in range(0, n, chunk)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_images, jobs))
    else:
        for job in jobs:
            _write_images(job)
    return time.perf_counter() - start


def concept_files(folder: Path, sizes: dict) -> dict[str, Path]:
    """The concept sets of ``sizes["concept_sets"]`` (name -> size) as local files:
    ImageNet's 1,000 class names (from torchvision's metadata, no download; line i = fc
    unit i), and Broden and WordNet stand-ins of the given sizes made of those names'
    words."""
    from torchvision.models import ResNet50_Weights

    names = list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])
    words = list(dict.fromkeys(w.lower() for n in names for w in n.replace("-", " ").split()))
    folder.mkdir(parents=True, exist_ok=True)

    def words_set(n: int, offset: int) -> list[str]:
        out = [words[(offset + i) % len(words)] for i in range(n)]
        return [w if i < len(words) else f"{w} {i // len(words)}" for i, w in enumerate(out)]

    files = {}
    for name, size in sizes["concept_sets"].items():
        files[name] = folder / f"{name}.txt"
        lines = names[:size] if name == "imagenet" else words_set(
            size, {"broden": 0, "wordnet": 500}[name])
        files[name].write_text("\n".join(lines) + "\n")
    return files


# ------------------------------------------------------------------------------ timing


class Clock:
    """Wall time against the budget."""

    def __init__(self, budget_s: float):
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device, fn: Callable[[], object]) -> tuple[object, float]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def bare_rate(device, step: Callable[[], object], batch: int, items: int,
              max_seconds: float) -> float:
    """Items per second of ``step`` (one batch of ``batch`` items), after a warm-up call
    (two on a GPU), over about ``items`` items (at least 2 batches) or ``max_seconds``."""
    for _ in range(2 if device.type == "cuda" else 1):
        step()
    _sync(device)
    n, start = 0, time.perf_counter()
    while n < max(items, 2 * batch):
        step()
        n += batch
        if n >= 2 * batch and time.perf_counter() - start > max_seconds:
            break
    _sync(device)
    return n / (time.perf_counter() - start)


def stage_entry(items: int, seconds: float, bare: float, unit: str, precision: str,
                batch_size: int, **extra) -> dict:
    rate = items / seconds
    return {"unit": unit, "items": items, "seconds": round(seconds, 4),
            "per_s": round(rate, 2), "bare_per_s": round(bare, 2),
            "ratio": round(rate / bare, 4), "precision": precision, "batch_size": batch_size,
            **extra}


# ------------------------------------------------------------------------------ (a) stages


def measure_stages(images: Path, work: Path, device, precision: str, sizes: dict,
                   clock: Clock, stage_budget: float) -> dict:
    """Throughput of each image stage and of its model's bare pass (see the module doc)."""
    import torch
    from PIL import Image

    from conceptlens.convis import convis_maps, load_convis, n_windows
    from conceptlens.devices import precision_context
    from conceptlens.embeddings import embed_view_images
    from conceptlens.hierarchy import make_hierarchy, subtree_masks
    from conceptlens.io.activations import save_activations
    from conceptlens.io.probe import probe_files, probe_sizes, read_attributes, write_probe_index
    from conceptlens.models.clip import clip_input_size, clip_normalize_float, load_clip
    from conceptlens.models.zoo import load_target, target_preprocess
    from conceptlens.probes import probe_index_and_classes
    from conceptlens.stages.neuron_maps import neuron_maps
    from conceptlens.stages.target_pass import TargetPassSettings, target_pass
    from conceptlens.views import backward_from, gradcam_boxes, square_boxes, view_loader

    bs, workers, n = sizes["batch_size"], sizes["workers"], sizes["stage_images"]
    # each bare pass may take this long at most (it runs over the stage's image count)
    bare_s = max(2.0, stage_budget / 20)
    split = work / "probe"
    table, classes = probe_index_and_classes(
        {"source": "imagenet", "path": str(images), "labels": None, "limit": n}, decode=False)
    write_probe_index(split, table, classes)
    attributes = read_attributes(split)
    files = probe_files(split, attributes)
    image_sizes = probe_sizes(attributes, split)
    n = len(files)
    stages: dict[str, dict] = {}
    notes: dict[str, str] = {}
    # loader alone: reading, decoding and cropping the JPEGs (what every stage waits on)
    boxes = square_boxes(image_sizes, 0.875)
    _, seconds = timed(device, lambda: sum(len(b) for b in view_loader(files, boxes, 224, bs,
                                                                       workers)))
    loader_rate = n / seconds

    def clip_step(model_, xin, prec):
        def step():
            with torch.no_grad(), precision_context(prec, device):
                return model_.encode_image(clip_normalize_float(model_, xin))
        return step

    def target_stages():  # the models go when each of these returns
        spec = {"source": "torchvision", "name": sizes["target"], "weights": None,
                "input_size": 224}
        model, names = load_target(spec, device)
        pre = target_preprocess(spec)
        x = pre.normalize(torch.rand(bs, 3, 224, 224, device=device))

        def forward(prec: str) -> Callable[[], object]:
            def step():
                with torch.no_grad(), precision_context(prec, device):
                    return model(x)
            return step

        # activations: the target's pass over one view (the preset runs it on three)
        settings = TargetPassSettings(layers={"center": ["layer4", "fc"]}, batch_size=bs,
                                      workers=workers, precision=precision)
        warm = attributes.iloc[:bs]
        target_pass(split, warm, spec, settings, str(device), loaded=(model, names))
        result, seconds = timed(device, lambda: target_pass(split, attributes, spec, settings,
                                                            str(device), loaded=(model, names)))
        bare = bare_rate(device, forward(precision), bs, n, bare_s)
        stages["activations"] = stage_entry(n, seconds, bare, "images", precision, bs,
                                            layers=["layer4", "fc"], view="center")
        center = result.activations["center"]

        # Grad-CAM at layer4 and its windows (the pass runs it in float32)
        layer = model.layer4

        def cam(rows):
            return gradcam_boxes(model, layer, pre, [files[i] for i in rows], image_sizes[rows],
                                 0.875, bs, workers, device)

        if clock.left() > stage_budget * 0.5:
            cam(np.arange(min(bs, n)))
            _, seconds = timed(device, lambda: cam(np.arange(n)))

            def forward_backward():
                with backward_from(model, layer):
                    out = model(x)
                    out.max(dim=1).values.sum().backward()

            bare_fb = bare_rate(device, forward_backward, bs, n, bare_s)
            bare_f = bare_rate(device, forward("float32"), bs, n, bare_s)
            stages["gradcam"] = stage_entry(
                n, seconds, bare_fb, "images", "float32", bs, layer="layer4",
                bare_is="forward + backward from layer4",
                bare_forward_per_s=round(bare_f, 2), ratio_to_bare_forward=round(n / seconds / bare_f, 4))
        else:
            notes["gradcam"] = "skipped: the time guard"

        # neuron maps: ResNet-50 on each neuron's top images of the full view, layer4 hooked
        acts_file = work / "activations_layer4.npz"
        save_activations(acts_file, np.asarray(center["layer4"]))
        n_top = min(8, n)

        def maps():
            return neuron_maps(split, attributes, spec, ["layer4"], {"layer4": acts_file}, n_top,
                               bs, workers, str(device), precision, loaded=(model, names))

        if clock.left() > stage_budget * 0.4:
            maps()
            out, seconds = timed(device, maps)
            union = len(np.unique(out["layer4"][0]))
            stages["neuron_maps"] = stage_entry(union, seconds, bare_rate(
                device, forward(precision), bs, union, bare_s), "images", precision, bs,
                layer="layer4", n_top=n_top)
        else:
            notes["neuron_maps"] = "skipped: the time guard"

    def clip_stage():
        # CLIP image embeddings: ViT-B-32 on the centre view (the WWW methods' CLIP)
        clip, _, _ = load_clip(sizes["clip_www"], None, device)
        size = clip_input_size(clip)
        ids = np.arange(n)
        embed_view_images(clip, files, boxes, ids[:bs], bs, workers, precision)
        _, seconds = timed(device, lambda: embed_view_images(clip, files, boxes, ids, bs, workers,
                                                             precision))
        xc = torch.rand(bs, 3, size, size, device=device)
        stages["clip_image_embeddings"] = stage_entry(
            n, seconds, bare_rate(device, clip_step(clip, xc, precision), bs, n, bare_s), "images",
            precision, bs, clip=sizes["clip_www"], view="center")

    def convis_stage():
        # ConVis: ViT-B-16 on every window of an image, ranked against a hierarchy
        if clock.left() > stage_budget * 0.2:
            n_nodes = sizes["hierarchy_nodes"]
            fan = 10
            parents = [("node 0", None)] + [(f"node {i}", f"node {(i - 1) // fan}")
                                            for i in range(1, n_nodes)]
            tree = make_hierarchy(parents)
            vit16, tree, nodes = load_convis(sizes["clip_metric"], None, tree, device=device)
            masks = subtree_masks(tree, [[1], [2], [3]])
            kw = dict(window_sizes=sizes["window_sizes"], stride=sizes["stride"], reference_size=224,
                      batch_size=bs, precision=precision)

            def convis():
                for i in range(sizes["convis_images"]):
                    image = np.asarray(Image.open(files[i]).convert("RGB"))
                    convis_maps(vit16, image, nodes, masks, seed=i, **kw)

            convis_maps(vit16, np.asarray(Image.open(files[0]).convert("RGB")), nodes, masks,
                        seed=0, **kw)
            _, seconds = timed(device, convis)
            size16 = clip_input_size(vit16)
            per_image = n_windows(size16, kw["window_sizes"], kw["stride"], 224)
            windows = per_image * sizes["convis_images"]
            xv = torch.rand(bs, 3, size16, size16, device=device)
            stages["convis_windows"] = stage_entry(
                windows, seconds, bare_rate(device, clip_step(vit16, xv, precision), bs, windows,
                                            bare_s), "windows", precision, bs, clip=sizes["clip_metric"],
                images=sizes["convis_images"], windows_per_image=per_image,
                hierarchy_nodes=len(tree), images_per_s=round(sizes["convis_images"] / seconds, 3),
                window_sizes=kw["window_sizes"], stride=kw["stride"])
        else:
            notes["convis_windows"] = "skipped: the time guard"

    for run in (target_stages, clip_stage, convis_stage):
        run()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    for entry in stages.values():
        entry["goal_met"] = entry["ratio"] >= GOAL
    return {"images": n, "loader_images_per_s": round(loader_rate, 2),
            "loader_workers": workers, "stages": stages, "notes": notes}


# ------------------------------------------------------------------------------ (b) the DAG


def dag_overlay(images: Path, concepts: dict[str, Path], device: str, precision: str,
                sizes: dict) -> dict:
    """The preset overridden: random weights (``sizes``' architectures), the generated
    probe set and concept files (a preset set not among ``concepts`` left out)."""
    report_set = "wordnet" if "wordnet" in concepts else next(iter(concepts))
    return {
        "base": "configs/imagenet-resnet50.yaml", "run": RUN,
        "device": device, "precision": precision, "threads": sizes["threads"],
        "batch_size": sizes["batch_size"], "loader_workers": sizes["workers"],
        "target": {"name": sizes["target"], "weights": None,
                   "class_names": sizes["class_names"]},
        "probe": {"path": str(images)},
        "layers": list(sizes["layers"]),
        "clip_models": {"vitb32": {"name": sizes["clip_www"], "pretrained": None},
                        "vitb16": {"name": sizes["clip_metric"], "pretrained": None}},
        "concept_sets": {name: str(concepts[name]) if name in concepts else False
                         for name in PRESET_SETS},
        "methods": {m: {"k": sizes["k"]} for m in ("www", "gradcam_tvmf", "gradcam_cos",
                                                  "center_tvmf")},
        "metrics": {"sentence_model": "all-MiniLM-L6-v2"},
        "convis": {"hierarchy": "world", "window_sizes": sizes["window_sizes"],
                   "stride": sizes["stride"]},
        "report": {"choose": {"best": 1, "worst": 1, "random": 0},
                   "top_images": sizes["top_images"], "figure4_images": 2,
                   "concept_set": report_set},
    }


def weasyprint_loads(python: str) -> bool:
    """Whether WeasyPrint (the report's PDF) imports: it needs Pango from the system."""
    return subprocess.run([python, "-c", "import weasyprint"], capture_output=True).returncode == 0


def run_dag(images: Path, work: Path, device: str, precision: str, sizes: dict,
            clock: Clock, cores: str) -> dict:
    from conceptlens.run_timeline import critical_chain, parse_snakemake_log, timeline_table

    concepts = concept_files(work / "concepts", sizes)
    wf = work / "wf"
    shutil.copytree(REPO, wf, ignore=shutil.ignore_patterns(
        ".venv*", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache",
        ".whl", ".gl"))
    import yaml

    (wf / "gpu-check.yaml").write_text(yaml.safe_dump(dag_overlay(images, concepts, device,
                                                                  precision, sizes)))
    command = [sys.executable, "-m", "snakemake", "--cores", cores, "--configfile",
               "gpu-check.yaml"]
    omitted = []
    if not weasyprint_loads(sys.executable):
        command += ["--omit-from", "report"]
        omitted.append("report (WeasyPrint does not load: no Pango on this machine)")
    log_path = work / "snakemake.log"
    timeout = max(10.0, clock.left())
    start = time.perf_counter()
    timed_out = False
    with open(log_path, "w") as log:
        env = {**os.environ,
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = subprocess.Popen(command, cwd=wf, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGINT)  # snakemake stops its jobs
            try:
                returncode = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                returncode = proc.wait()
    wall = time.perf_counter() - start
    text = log_path.read_text()
    results = wf / "results" / RUN
    out = {"images": sizes["dag_images"], "command": " ".join(command[1:]),
           "wall_s": round(wall, 2), "returncode": returncode, "timed_out": timed_out,
           "omitted": omitted, "jobs": [], "benchmarks": [], "critical_chain": []}
    try:
        jobs = parse_snakemake_log(text)
    except ValueError:
        jobs = []
    if jobs:
        out["jobs"] = [{k: (None if isinstance(v, float) and v != v else v)  # NaN: unfinished
                        for k, v in row.items()}
                       for row in timeline_table(jobs).to_dict(orient="records")]
        out["critical_chain"] = [j.name for j in critical_chain(jobs)]
    out["benchmarks"] = benchmark_files(results)
    if returncode != 0:
        out["log_tail"] = text[-4000:]
    return out


def benchmark_files(results: Path) -> list[dict]:
    """Each job's ``benchmark:`` file: seconds and peak memory."""
    import pandas as pd

    rows = []
    folder = results / "benchmarks"
    for tsv in sorted(folder.rglob("*.tsv")) if folder.is_dir() else []:
        bench = pd.read_csv(tsv, sep="\t").iloc[0]
        rows.append({"job": tsv.relative_to(folder).with_suffix("").as_posix(),
                     "seconds": round(float(bench["s"]), 3),
                     "max_rss_mb": float(bench["max_rss"]) if bench["max_rss"] != "-" else None})
    return rows


# ------------------------------------------------------------------------------ main


def machine(device) -> dict:
    import torch

    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "cpus": os.cpu_count(), "platform": platform.platform()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                    gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cudnn=torch.backends.cudnn.version())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                            text=True)
    info["commit"] = commit.stdout.strip() or None
    return info


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="small sizes (a CPU smoke test)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "gpu_check.json")
    parser.add_argument("--precision", choices=("float32", "autocast"), default=None,
                        help="default: autocast on cuda (the preset's), float32 on cpu")
    parser.add_argument("--images", type=int, default=None, help="DAG probe images")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall-time guard for this driver, set-up not included (default "
                             "450 s; with --tiny 600 s: the CPU is slow, and shared)")
    parser.add_argument("--cores", default="all", help="snakemake --cores")
    parser.add_argument("--setup-s", type=float, default=None,
                        help="seconds gpu_check.sh spent on the environment (recorded)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work folder to keep (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    if args.budget_s is None:
        args.budget_s = 600.0 if args.tiny else 450.0
    clock = Clock(args.budget_s)
    import torch

    from conceptlens.devices import resolve_device

    device = resolve_device(args.device)
    sizes = dict(SIZES["tiny" if args.tiny else "full"])
    if args.images:
        sizes["dag_images"] = args.images
    sizes["stage_images"] = min(sizes["stage_images"], sizes["dag_images"])
    precision = args.precision or ("autocast" if device.type == "cuda" else "float32")
    torch.set_num_threads(sizes["threads"] if device.type == "cpu" else torch.get_num_threads())
    result = {"goal_ratio": GOAL, "budget_s": args.budget_s, "setup_s": args.setup_s,
              "tiny": args.tiny,
              "precision": precision, "sizes": sizes, "machine": machine(device)}
    tmp = tempfile.mkdtemp(prefix="gpu-check.") if args.keep is None else str(args.keep)
    work = Path(tmp)
    work.mkdir(parents=True, exist_ok=True)
    try:
        images = work / "val"
        result["generate_s"] = round(generate_images(
            images, sizes["dag_images"], sizes["min_side"], sizes["max_side"],
            min(16, os.cpu_count() or 1)), 2)
        # the stages get up to a third of what is left, the DAG the rest
        stage_budget = clock.left() / 3
        stage_start = clock.elapsed()
        result.update(measure_stages(images, work / "stages", device, precision, sizes, clock,
                                     stage_budget))
        result["stages_s"] = round(clock.elapsed() - stage_start, 2)
        _sync(device)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        result["dag"] = run_dag(images, work, args.device, precision, sizes, clock, args.cores)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    stages = result.get("stages", {})
    result["goal_met"] = (device.type == "cuda" and bool(stages)
                          and all(s["goal_met"] for s in stages.values()))
    result["goal_applies"] = device.type == "cuda"
    result["total_s"] = round(clock.elapsed(), 2)
    result["timed_out"] = result["total_s"] > args.budget_s or result["dag"]["timed_out"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    summary(result)
    return result


def summary(result: dict) -> None:
    print(f"{result['machine'].get('gpu') or result['machine']['device']}, torch "
          f"{result['machine']['torch']}, {result['precision']}")
    for name, s in result.get("stages", {}).items():
        mark = "ok" if s["goal_met"] else "BELOW"
        print(f"  {name:24s} {s['per_s']:10.1f} {s['unit']}/s  bare {s['bare_per_s']:10.1f}  "
              f"ratio {s['ratio']:.2f}  {mark} ({GOAL:.0%} goal)")
    print(f"  loader alone            {result.get('loader_images_per_s', 0):10.1f} images/s")
    dag = result["dag"]
    print(f"DAG: {dag['images']} images, {len(dag['jobs'])} jobs, wall {dag['wall_s']:.1f} s, "
          f"return code {dag['returncode']}{' (timed out)' if dag['timed_out'] else ''}")
    print(f"total {result['total_s']:.1f} s (budget {result['budget_s']:.0f} s)")


if __name__ == "__main__":
    main()
