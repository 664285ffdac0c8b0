"""Benchmark: one stability job (conceptlens.stability.pooled_stability), time and memory.

    .venv/bin/python benchmarks/stability.py                       # random inputs
    .venv/bin/python benchmarks/stability.py --layers 256 512 1024 2048 --probe 5000
    .venv/bin/python benchmarks/stability.py --world results/world # the demo's real inputs

One job = one (concept set, similarity function): per layer, scoring at each k of --ks and
at the sub-sample k for every seed (8 scoring calls per layer with the defaults).  Random
inputs: unit-vector image and concept embeddings, ReLU activations rounded to float16 (so
that they tie as stored activations do).  ``--world DIR`` uses DIR's layer4 and fc
activations and the world CLIP's embeddings instead.  Prints seconds per function and the
pooled numbers; peak memory is the process's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conceptlens.io.activations import load_activations  # noqa: E402
from conceptlens.io.embeddings import load_image_embeddings, load_text_embeddings  # noqa: E402
from conceptlens.stability import Subsample, pooled_stability  # noqa: E402
from conceptlens.stability_summary import summarise  # noqa: E402


def random_inputs(args: argparse.Namespace) -> tuple[torch.Tensor, list, list[str]]:
    gen = torch.Generator().manual_seed(args.seed)
    images = F.normalize(torch.randn(args.probe, args.dim, generator=gen), dim=1)
    texts = F.normalize(torch.randn(args.concepts, args.dim, generator=gen), dim=1)
    layers = [(f"layer{i + 1}", torch.randn(args.probe, n, generator=gen).relu()
               .half().float(), None) for i, n in enumerate(args.layers)]
    return images @ texts.T, layers, [f"c{i}" for i in range(args.concepts)]


def world_inputs(root: Path) -> tuple[torch.Tensor, list, list[str]]:
    _, images = load_image_embeddings(root / "clip/world/images.npz", "full.all")
    concepts, texts, _ = load_text_embeddings(root / "clip/world/text/world.npz", "bare")
    layers = []
    for name in ("layer4", "fc"):
        acts, units = load_activations(root / f"activations/full/{name}.npz")
        layers.append((name, torch.from_numpy(acts), units))
    return torch.from_numpy(images) @ torch.from_numpy(texts).T, layers, concepts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="a run's results folder (real inputs)")
    parser.add_argument("--layers", type=int, nargs="+", default=[512, 10],
                        help="neurons of each random layer")
    parser.add_argument("--probe", type=int, default=2000)
    parser.add_argument("--concepts", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--ks", type=int, nargs="+", default=[5, 10, 16])
    parser.add_argument("--functions", nargs="+", default=["soft_wpmi", "wpmi"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    clip, layers, concepts = world_inputs(args.world) if args.world else random_inputs(args)
    sizes = ", ".join(f"{name} {acts.shape[1]}" for name, acts, _ in layers)
    print(f"{clip.shape[0]:,} images, {clip.shape[1]:,} concepts, neurons: {sizes}; "
          f"ks {args.ks}, {Subsample()}, {args.threads} thread(s)")
    for function in args.functions:
        start = time.perf_counter()
        per_neuron = pooled_stability(layers, clip, function, concepts, args.ks)
        seconds = time.perf_counter() - start
        s = summarise(per_neuron, function)
        numbers = ", ".join(f"{k} {v:.2f}" for k, v in s.items() if isinstance(v, float))
        print(f"{function}: {seconds:.2f} s; {numbers}")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
