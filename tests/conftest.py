"""Shared fixtures: the repository root and a runner for snakemake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def run_snakemake(*args: str, cwd: Path = REPO, check: bool = True, timeout: int = 1800,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run snakemake in ``cwd`` with ``args`` (and environment ``env``, default this
    process'); output captured as text."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def dry_run_jobs(dry_run_output: str) -> dict[str, int]:
    """Job name -> count from the 'Job stats' table of a dry run."""
    lines = dry_run_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    jobs = {}
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
