"""Benchmark: ConVis maps with the world CLIP on world images, windows/s and seconds per map.

    .venv/bin/python benchmarks/convis.py                       # 5 images, 1 thread
    .venv/bin/python benchmarks/convis.py --images 10 --threads 2 --json out.json
    .venv/bin/python benchmarks/convis.py --window-sizes 224 160 --concepts 4

For each setting, ``--images`` freshly rendered world scenes (64 px, the CLIP's input) get
``--concepts`` maps each from one pass over their windows (the shape, color, texture and
background of the main object, then their parents).  Reported: windows per image, windows
embedded per second, seconds per image (all its concepts) and per map.  The first image is
a warm-up and is not timed.  Each setting runs twice back to back: "before" (the
reference computation: advanced-indexed crops, ``model.encode_image`` as loaded, float32)
and "after" (the fast path: :class:`~conceptlens.convis.WindowEncoder` with BatchNorms
folded, channels-last, the attention pool for its one token, strided crops, and
``--precision`` auto = bfloat16 where the CPU has it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conceptlens.convis import WindowEncoder, convis_maps, load_convis, n_windows  # noqa: E402
from conceptlens.hierarchy import make_hierarchy, subtree_masks  # noqa: E402
from conceptlens.models.clip import clip_input_size  # noqa: E402
from conceptlens.world.generate import SplitSpec, render_images  # noqa: E402
from conceptlens.world.vocabulary import world_hierarchy  # noqa: E402

ATTRIBUTES = ("shape", "color", "texture", "background")


def measure(model, tree, nodes, images, rows, concepts: int, settings: dict) -> dict:
    size = clip_input_size(model)
    windows = n_windows(size, settings["window_sizes"], settings["stride"], settings["reference_size"])
    parents = {c: p for c, p in world_hierarchy().items()}
    times = []
    settings = dict(settings)
    path = settings.pop("path")
    if path == "before":
        extra = dict(reference=True, precision="float32")
    else:
        extra = dict(encoder=WindowEncoder(model, settings["precision"]),
                     precision=settings["precision"])
    for k, (image, row) in enumerate(zip(images, rows)):
        names = [row[a] for a in ATTRIBUTES] + [parents[row[a]] for a in ATTRIBUTES]
        masks = subtree_masks(tree, [tree.index(n) for n in names[:concepts]])
        start = time.perf_counter()
        convis_maps(model, image, nodes, masks, seed=k, **{**settings, **extra})
        if k:  # the first image warms up
            times.append(time.perf_counter() - start)
    per_image = sum(times) / len(times)
    return {**settings, "path": path, "windows_per_image": windows, "concepts": concepts, "images": len(times),
            "windows_per_s": windows / per_image, "s_per_image": per_image,
            "s_per_map": per_image / concepts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5, help="timed images (plus one warm-up)")
    parser.add_argument("--concepts", type=int, default=2, help="maps per image (1-8)")
    parser.add_argument("--window-sizes", type=int, nargs="+", action="append", default=None,
                        help="window sides in px of a 224 px image; repeat for several settings "
                        "(default: 128 64, and 224 160)")
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", default="auto", help="the fast path's (auto, float32, "
                        "autocast); the reference runs float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", default=str(REPO / "resources" / "world" / "clip.pt"))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if not 1 <= args.concepts <= 2 * len(ATTRIBUTES):
        parser.error(f"--concepts must be 1..{2 * len(ATTRIBUTES)}")
    torch.set_num_threads(args.threads)
    tree = make_hierarchy(list(world_hierarchy().items()))
    model, tree, nodes = load_convis("conceptlens-world-clip", args.checkpoint, tree,
                                     device=args.device)
    images, rows, _ = render_images(SplitSpec(seed=2024, n_images=args.images + 1),
                                    range(args.images + 1))
    results = []
    for sizes in args.window_sizes or [[128, 64], [224, 160]]:
        settings = dict(window_sizes=list(sizes), stride=args.stride, reference_size=224,
                        batch_size=args.batch_size, precision=args.precision)
        for path in ("before", "after"):
            results.append(measure(model, tree, nodes, images, rows, args.concepts,
                                   {**settings, "path": path}))
    device = str(next(model.parameters()).device)
    print(f"ConVis, world CLIP (64 px), {args.threads} thread(s), device {device}, "
          f"stride {args.stride}/224, batch {args.batch_size}")
    print(f"{'path':>6} {'windows':>12} {'win/image':>10} {'windows/s':>10} {'s/image':>8} {'s/map':>7}")
    for r in results:
        print(f"{r['path']:>6} {'/'.join(map(str, r['window_sizes'])):>12} {r['windows_per_image']:>10d} "
              f"{r['windows_per_s']:>10.0f} {r['s_per_image']:>8.2f} {r['s_per_map']:>7.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"threads": args.threads, "device": device,
                                         "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
