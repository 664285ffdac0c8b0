"""The demo end to end (``snakemake --cores N`` on the default config): wall time against
the 4-minute target on 2 cores, every job's start and length, the critical chain, the
ConVis jobs' seconds from their benchmark files, and the host readings of
``benchmarks/tiny_world.py`` (to compare runs on a shared machine).

    .venv/bin/python benchmarks/demo.py [--cores 2] [--keep]

Runs into a fresh ``results/demo-benchmark/`` (``results/world`` is left alone).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_world import LIBRARIES, forward_seconds, import_seconds  # noqa: E402

from conceptlens.run_timeline import critical_chain, parse_snakemake_log, timeline_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RUN = "demo-benchmark"
TARGET_S = 240


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help=f"keep results/{RUN}/")
    args = parser.parse_args()

    print(f"host: world ResNet-18 forward, 300 images, 1 thread: {forward_seconds():.2f} s "
          "(2.3 s on a quiet host)")
    for module in LIBRARIES[:2]:
        print(f"host: import {module}: {import_seconds(module):.1f} s")

    out = REPO / "results" / RUN
    shutil.rmtree(out, ignore_errors=True)
    log_path = REPO / "results" / f"{RUN}.log"
    log_path.parent.mkdir(exist_ok=True)
    command = [str(Path(sys.executable).with_name("snakemake")), "--cores", str(args.cores),
               "--config", f"run={RUN}"]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        done = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"snakemake failed ({done.returncode}); its log: {log_path}")

    jobs = parse_snakemake_log(log_path.read_text())
    table = timeline_table(jobs)
    print(f"\n{len(jobs)} jobs, {table['seconds'].sum():.0f} job-seconds on {args.cores} cores")
    print(table.to_string(index=False))
    print("\ncritical chain:")
    for job in critical_chain(jobs):
        print(f"  {job.name:40s} {job.start:5.0f} -> {job.end:5.0f}  {job.seconds:4.0f} s")
    for tsv in sorted((out / "benchmarks" / "convis").glob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[0]
        print(f"ConVis {tsv.stem}: {row['s']:.0f} s (benchmark file)")
    verdict = "met" if wall <= TARGET_S else "missed"
    print(f"\nwall {wall:.1f} s (snakemake start-up and DAG included); target {TARGET_S} s "
          f"on 2 cores: {verdict}")
    print(f"log: {log_path}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
