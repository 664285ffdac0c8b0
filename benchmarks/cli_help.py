"""Benchmark: how long ``conceptlens [COMMAND] --help`` and ``--version`` take, each in a
fresh interpreter (best of --repeat runs), beside a bare ``python -c pass``.

    .venv/bin/python benchmarks/cli_help.py
    .venv/bin/python benchmarks/cli_help.py --pythonpath /other/checkout   # another version

The target is under 1 s each: the heavy libraries (torch, open_clip, pandas) load only when
a command runs (tests/test_cli.py checks that --help loads none of them).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["--version"], ["describe", "--help"], ["convis", "--help"],
            ["check-config", "--help"])


def best_of(argv: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process), each the best of ``repeat`` runs; the
    CPU time moves less than the wall time on a busy machine."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pythonpath", default=str(REPO), help="checkout to time")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": args.pythonpath}
    wall, cpu = best_of([sys.executable, "-c", "pass"], args.repeat, env)
    print(f"python -c pass: {wall:.2f} s wall, {cpu:.2f} s CPU")
    for command in COMMANDS:
        wall, cpu = best_of([sys.executable, "-m", "conceptlens.cli", *command], args.repeat,
                            env)
        print(f"conceptlens {' '.join(command)}: {wall:.2f} s wall, {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
