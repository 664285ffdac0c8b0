"""The demo end to end (``snakemake --cores N`` on the default config): wall time against
the 4-minute target on 2 cores, every job's start and length, the critical chain, the
ConVis jobs' seconds from their benchmark files, and the host readings of
``benchmarks/tiny_world.py`` (to compare runs on a shared machine).

    .venv/bin/python benchmarks/demo.py [--cores 2] [--keep]

Runs into a fresh ``results/demo-benchmark/`` (``results/world`` is left alone).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_world import (  # noqa: E402
    LIBRARIES,
    close_run,
    forward_seconds,
    import_seconds,
    timed_run,
)

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
    wall, log_path = timed_run(["--config", f"run={RUN}"], RUN, args.cores)
    for tsv in sorted((out / "benchmarks" / "convis").glob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[0]
        print(f"ConVis {tsv.stem}: {row['s']:.0f} s (benchmark file)")
    close_run(wall, f"{TARGET_S} s on 2 cores", wall <= TARGET_S, log_path, RUN, args.keep)


if __name__ == "__main__":
    main()
