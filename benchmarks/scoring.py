"""Benchmark: concept scoring (conceptlens.scoring) on random unit vectors, time and memory.

    .venv/bin/python benchmarks/scoring.py                 # full size (a few minutes)
    .venv/bin/python benchmarks/scoring.py --neurons 128 --concepts 4000 --probe 5000

Full size: 2,048 neurons x 82,000 concepts, 40 top images per neuron drawn from a probe set
of 50,000 images, 512-d embeddings.  Cases, each run in a fresh subprocess so that its peak
memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes the random inputs and
the (neurons x concepts) float32 output) is its own:

* ``www_cosine``: WWW concept scores with cosine similarity (target <= 5 s);
* ``www_tvmf``: WWW concept scores with t-vMF similarity, float32 (target <= 60 s);
* ``www_tvmf_bf16``: the same with ``precision="bfloat16"`` (target <= 18 s, about 2x the
  matrix-product limit of 2 cores).  Both t-vMF cases also time a sample of the bare
  image-concept products (same blocks, same precision, nothing else) and extrapolate it to
  all concepts: the matrix-product limit on this machine now, printed with the ratio.  The
  two cases save their selections (``select_concepts(scores, 0.95).mask``) and the parent
  checks that they are identical;
* ``soft_wpmi``: CLIP-Dissect soft-WPMI on ``ImageConceptProduct`` (the image-concept
  matrix streamed in blocks, never held whole).  It needs the similarity of every probe
  image, so it uses a smaller probe set (``--cd-probe``, default 5,000 images) with
  ``--cd-top-k`` (default 100) top images per neuron; no time target;
* ``soft_wpmi_dense``: the same on the whole (probe x concepts) matrix, as the workflow
  calls it (not run by default: ``--cases soft_wpmi_dense``).

Peak memory target: <= 4 GiB for every case.  Only the scoring call is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conceptlens.scoring import (  # noqa: E402
    DEFAULT_MEMORY_BUDGET,
    ImageConceptProduct,
    select_concepts,
    soft_wpmi,
    www_scores,
)

CASES = ("www_cosine", "www_tvmf", "www_tvmf_bf16", "soft_wpmi", "soft_wpmi_dense")
DEFAULT_CASES = ("www_cosine", "www_tvmf", "www_tvmf_bf16", "soft_wpmi")
TIME_TARGET_S = {"www_cosine": 5.0, "www_tvmf": 60.0, "www_tvmf_bf16": 18.0,
                 "soft_wpmi": None, "soft_wpmi_dense": None}
#: the alpha of WWW's selection compared between float32 and bfloat16
ALPHA = 0.95
#: concept blocks of bare products timed for the matrix-product limit
LIMIT_SAMPLE_BLOCKS = 4
MEMORY_TARGET_GIB = 4.0


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def unit_rows(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """(n, d) float32 random unit vectors."""
    return F.normalize(torch.randn(n, d, generator=gen), dim=1)


def random_topk(n_neurons: int, k: int, n_images: int, gen: torch.Generator) -> torch.Tensor:
    """(n_neurons, k) long: k distinct random images per neuron (in blocks of neurons)."""
    blocks = [torch.rand(min(256, n_neurons - i), n_images, generator=gen).topk(k).indices
              for i in range(0, n_neurons, 256)]
    return torch.cat(blocks)


def run_case(case: str, args: argparse.Namespace) -> dict:
    """Build the inputs of ``case``, time the scoring call; sizes, seconds and memory."""
    gen = torch.Generator().manual_seed(args.seed)
    concepts = unit_rows(args.concepts, args.dim, gen)
    if case.startswith("www"):
        images = unit_rows(args.probe, args.dim, gen)
        template = unit_rows(1, args.dim, gen)[0]
        topk = random_topk(args.neurons, args.k, args.probe, gen)
        sizes = {"neurons": args.neurons, "concepts": args.concepts, "k": args.k,
                 "dim": args.dim, "probe": args.probe,
                 "distinct_top_images": int(topk.unique().numel())}
        similarity = "cosine" if case == "www_cosine" else "tvmf"
        precision = "bfloat16" if case == "www_tvmf_bf16" else "float32"
        if similarity == "tvmf":
            sizes["kappa"] = args.kappa
            sizes["precision"] = precision
        data_gib = peak_rss_gib()
        load, cpu = os.getloadavg()[0], time.process_time()
        start = time.perf_counter()
        scores = www_scores(images, topk, concepts, template, similarity,
                            kappa=args.kappa if similarity == "tvmf" else None,
                            memory_budget=args.memory_budget, precision=precision)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = peak_rss_gib()
        extra = {}
        if similarity == "tvmf":
            extra["limit_s"] = product_limit_s(images, topk, concepts, precision,
                                               args.memory_budget)
            extra["tflop"] = 2 * sizes["distinct_top_images"] * args.concepts * args.dim / 1e12
            if args.save_dir:
                save_selection(scores, Path(args.save_dir) / f"{case}.pt")
    else:
        images = unit_rows(args.cd_probe, args.dim, gen)
        if case == "soft_wpmi":
            clip_feats = ImageConceptProduct(images, concepts)  # streamed in blocks
        else:
            clip_feats = images @ concepts.T  # (probe, concepts), held whole
            del images
        target_feats = torch.randn(args.cd_probe, args.neurons, generator=gen)
        sizes = {"neurons": args.neurons, "concepts": args.concepts, "top_k": args.cd_top_k,
                 "dim": args.dim, "probe": args.cd_probe}
        data_gib = peak_rss_gib()
        load, cpu = os.getloadavg()[0], time.process_time()
        start = time.perf_counter()
        scores = soft_wpmi(clip_feats, target_feats, top_k=args.cd_top_k,
                           memory_budget=args.memory_budget)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak, extra = peak_rss_gib(), {}
    assert scores.shape == (args.neurons, args.concepts)
    assert bool(torch.isfinite(scores).all())
    return {"case": case, "sizes": sizes, "seconds": seconds, "data_peak_gib": data_gib,
            "peak_gib": peak, "threads": torch.get_num_threads(), "cpu_seconds": cpu,
            "load": load, **extra}


def product_limit_s(images: torch.Tensor, topk: torch.Tensor, concepts: torch.Tensor,
                    precision: str, memory_budget: int) -> float:
    """Seconds of the bare (distinct top images) x concepts products alone, estimated.

    Times ``LIMIT_SAMPLE_BLOCKS`` blocks of concepts as wide as www_scores' own blocks (in
    ``precision``; nothing but the product) and scales to all concepts.
    """
    u = images.index_select(0, topk.unique())
    n_union, m = u.shape[0], concepts.shape[0]
    per_column = (6 * n_union if precision == "bfloat16" else 8 * n_union) + 4 * len(topk)
    width = max(1, min(m, memory_budget // per_column, (48 << 20) // n_union))
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
    u, blocks = u.to(dtype), concepts[:width * LIMIT_SAMPLE_BLOCKS].to(dtype)
    out = torch.empty(n_union, width, dtype=dtype)
    torch.mm(u, blocks[:width].T, out=out)  # warm-up
    start, done = time.perf_counter(), 0
    for c0 in range(0, blocks.shape[0] - width + 1, width):
        torch.mm(u, blocks[c0:c0 + width].T, out=out)
        done += width
    return (time.perf_counter() - start) * m / done


def save_selection(scores: torch.Tensor, path: Path) -> None:
    """The selected (neuron, concept) pairs at ALPHA, their scores and each neuron's best."""
    mask = select_concepts(scores, ALPHA).mask
    pairs = mask.nonzero()
    torch.save({"pairs": pairs, "values": scores[mask], "best": scores.max(dim=1).values},
               path)


def compare_selections(save_dir: Path) -> None:
    """Print whether the float32 and bfloat16 t-vMF selections are identical."""
    paths = [save_dir / f"{case}.pt" for case in ("www_tvmf", "www_tvmf_bf16")]
    if not all(path.exists() for path in paths):
        return
    fp32, bf16 = (torch.load(path) for path in paths)
    same = torch.equal(fp32["pairs"], bf16["pairs"])
    print(f"\nt-vMF selection (alpha {ALPHA}) float32 vs bfloat16: "
          f"{'identical' if same else 'DIFFERENT'} "
          f"({len(fp32['pairs']):,} vs {len(bf16['pairs']):,} selected pairs)")
    best = (fp32["best"] - bf16["best"]).abs().max().item()
    spread = fp32["best"].abs().max().item()
    print(f"  max |best score float32 - bfloat16| {best:.2e} (largest |best score| {spread:.2e})")
    if same:
        diff = (fp32["values"] - bf16["values"]).abs().max().item()
        print(f"  max |score difference| over the selected pairs {diff:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=2048)
    parser.add_argument("--concepts", type=int, default=82_000)
    parser.add_argument("--k", type=int, default=40, help="WWW top images per neuron")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--probe", type=int, default=50_000, help="WWW probe images")
    parser.add_argument("--kappa", type=float, default=8.0, help="t-vMF concentration")
    parser.add_argument("--cd-probe", type=int, default=5_000,
                        help="CLIP-Dissect probe images (soft_wpmi)")
    parser.add_argument("--cd-top-k", type=int, default=100, help="soft_wpmi top_k")
    parser.add_argument("--memory-budget", type=int, default=DEFAULT_MEMORY_BUDGET,
                        help="scratch bytes per scoring call (default %(default)s)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(DEFAULT_CASES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--save-dir", help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()

    if args.case:
        print(json.dumps(run_case(args.case, args)))
        return

    save_dir = Path(tempfile.mkdtemp(prefix="scoring-benchmark-"))
    forwarded = [*sys.argv[1:], "--save-dir", str(save_dir)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"memory budget {args.memory_budget / 2**30:.2f} GiB per call")
    for case in args.cases:
        proc = subprocess.run([sys.executable, __file__, *forwarded, "--case", case],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"\n{case}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        target = TIME_TARGET_S[case]
        if target is None:
            time_note = "(no time target)"
        else:
            verdict = "ok" if result["seconds"] <= target else "MISSED"
            time_note = f"(target <= {target:g} s: {verdict})"
        memory_ok = result["peak_gib"] <= MEMORY_TARGET_GIB
        sizes = ", ".join(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}"
                          for key, value in result["sizes"].items())
        print(f"\n{case}: {sizes}")
        print(f"  time        {result['seconds']:8.2f} s   {time_note}; CPU time "
              f"{result['cpu_seconds']:.1f} s, load average {result['load']:.1f} at the start")
        print(f"  peak memory {result['peak_gib']:8.2f} GiB (target <= {MEMORY_TARGET_GIB:g} GiB: "
              f"{'ok' if memory_ok else 'MISSED'}); "
              f"{result['data_peak_gib']:.2f} GiB before scoring (torch + inputs)")
        if "limit_s" in result:
            print(f"  products    {result['limit_s']:8.2f} s   bare {result['sizes']['precision']} "
                  f"products alone ({result['tflop']:.2f} TFLOP; sampled): "
                  f"{result['seconds'] / result['limit_s']:.2f}x the matrix-product limit")
    compare_selections(save_dir)
    shutil.rmtree(save_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
