"""The tiny world end to end (configs/tiny-world.yaml): wall time, where it went, and how
busy the host was.

    .venv/bin/python benchmarks/tiny_world.py [--cores 2] [--keep]

Runs ``snakemake --cores N --configfile configs/tiny-world.yaml`` into a fresh
``results/tiny-world-benchmark/`` (the tests' ``results/tiny-world`` is left alone) and
prints: the wall time against the target (about a minute on 2 cores); every job's start
and length; the critical chain (the jobs that set the length); and two host readings taken
just before, to compare runs on a shared machine (on a quiet host of this project: world
ResNet-18 on 300 images, 1 thread, 2.3 s; ``import torch`` 3 s).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conceptlens.run_timeline import critical_chain, parse_snakemake_log, timeline_table

REPO = Path(__file__).resolve().parents[1]
RUN = "tiny-world-benchmark"
TARGET_S = 60
ABOUT = 1.25  # "about a minute": up to 75 s
# Libraries whose import is each job's start-up cost (one fresh interpreter each).
LIBRARIES = ["torch", "torchvision", "open_clip", "pytorch_grad_cam", "sentence_transformers",
             "weasyprint"]


def import_seconds(module: str) -> float:
    """Wall seconds of ``import module`` in a fresh interpreter."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=REPO)
    return time.perf_counter() - start


def forward_seconds() -> float:
    """Seconds of the world target's forward pass over 300 random 64 px images, 1 thread:
    a fixed amount of work, so that runs on a shared host can be compared."""
    import torch

    from conceptlens.activations import record_activations
    from conceptlens.models.zoo import load_target

    torch.set_num_threads(1)
    model, _ = load_target({"source": "world", "path": str(REPO / "resources/world/target.pt")})
    x = torch.rand(300, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        record_activations(model, (x[i:i + 100] for i in range(0, 300, 100)), ["layer4", "fc"])
        best = min(best, time.perf_counter() - start)
    return best


def timed_run(arguments: list[str], run: str, cores: int) -> tuple[float, Path]:
    """Run snakemake with ``arguments`` from an empty ``results/<run>/`` on ``cores``
    cores, its output into ``results/<run>.log``; print every job's start and length and
    the critical chain. Returns the wall time (s) and the log's path; exits where the run
    fails."""
    shutil.rmtree(REPO / "results" / run, ignore_errors=True)
    log_path = REPO / "results" / f"{run}.log"
    log_path.parent.mkdir(exist_ok=True)
    command = [str(Path(sys.executable).with_name("snakemake")), "--cores", str(cores),
               *arguments]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        done = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"snakemake failed ({done.returncode}); its log: {log_path}")
    jobs = parse_snakemake_log(log_path.read_text())
    table = timeline_table(jobs)
    print(f"\n{len(jobs)} jobs, {table['seconds'].sum():.0f} job-seconds on {cores} cores")
    print(table.to_string(index=False))
    print("\ncritical chain:")
    for job in critical_chain(jobs):
        print(f"  {job.name:40s} {job.start:5.0f} -> {job.end:5.0f}  {job.seconds:4.0f} s")
    return wall, log_path


def close_run(wall: float, target: str, met: bool, log_path: Path, run: str, keep: bool
              ) -> None:
    """Print the wall time against ``target`` and the log's path; remove ``results/<run>/``
    unless ``keep``."""
    print(f"\nwall {wall:.1f} s (snakemake start-up and DAG included); target {target}: "
          f"{'met' if met else 'missed'}")
    print(f"log: {log_path}")
    if not keep:
        shutil.rmtree(REPO / "results" / run, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true",
                        help=f"keep results/{RUN}/ (default: removed after the run)")
    args = parser.parse_args()

    print(f"host: world ResNet-18 forward, 300 images, 1 thread: {forward_seconds():.2f} s "
          "(2.3 s on a quiet host)")
    for module in LIBRARIES:
        print(f"host: import {module}: {import_seconds(module):.1f} s")

    wall, log_path = timed_run(["--configfile", "configs/tiny-world.yaml", "--config",
                                f"run={RUN}"], RUN, args.cores)
    close_run(wall, f"about {TARGET_S} s (up to {TARGET_S * ABOUT:.0f} s)",
              wall <= TARGET_S * ABOUT, log_path, RUN, args.keep)


if __name__ == "__main__":
    main()
