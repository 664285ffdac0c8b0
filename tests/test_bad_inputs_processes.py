"""Issue 19, processes and texts: jobs die with a killed Snakemake, a killed run resumes to
the same outputs, and the texts that CLIP's context cuts are reported once."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conceptlens.parent_watch import (
    ENV,
    ProcessIdentity,
    identity,
    is_running,
    record_snakemake,
    watched_snakemake,
)
from tests.conftest import REPO, run_snakemake

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# A stand-in for snakemake: it records itself as a parse does, starts a job and waits.
FAKE_SNAKEMAKE = """
import subprocess, sys, time
from conceptlens.parent_watch import record_snakemake
record_snakemake()
job = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
print(job.pid, flush=True)
time.sleep(120)
"""

# A rule script that writes for two minutes, with a child process of its own.
JOB = """
import subprocess, sys, time
from types import SimpleNamespace
from conceptlens.workflow import rule_context
snakemake = SimpleNamespace(log=[sys.argv[1]], threads=1, rule="demo")
with rule_context(snakemake) as log:
    child = subprocess.Popen(["sleep", "120"])
    log.info("writing; child %d", child.pid)
    for _ in range(1200):
        print("a line", flush=True)
        time.sleep(0.1)
"""


def python_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    return {**env, "PYTHONPATH": str(REPO)}


def gone_within(pids: list[int], seconds: float) -> float | None:
    """Seconds until none of ``pids`` runs (zombies count as gone); None if longer."""
    start = time.monotonic()
    watched = [identity(pid) for pid in pids]
    while time.monotonic() - start < seconds:
        if not any(p is not None and is_running(p) for p in watched):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@linux_only
def test_a_job_and_its_child_stop_within_seconds_of_a_kill_9_of_snakemake(tmp_path):
    log = tmp_path / "job.log"
    snakemake = subprocess.Popen([sys.executable, "-c", FAKE_SNAKEMAKE, JOB, str(log)],
                                 stdout=subprocess.PIPE, text=True, env=python_env())
    try:
        job = int(snakemake.stdout.readline())
        wait_for(lambda: "writing; child" in log.read_text() if log.exists() else False,
                 30, "the job to start writing")
        child = int(log.read_text().split("writing; child ")[1].split()[0])
        snakemake.kill()
        snakemake.wait()
        lived = gone_within([job, child], 5)
    finally:
        snakemake.kill()
        snakemake.stdout.close()
    assert lived is not None and lived < 2, f"the job outlived snakemake: {lived}"
    text = log.read_text()
    assert text.count("that ran this job is gone") == 1
    assert f"snakemake (pid {snakemake.pid})" in text


FORKING_JOB = """
import os, sys, time
from conceptlens.parent_watch import forked_children_die_with_job
forked_children_die_with_job()
child = os.fork()
if child == 0:
    os.close(1)  # the test reads the job's output to its end
    os.close(2)
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(0.5)
os._exit(0)  # dies without cleaning up, like a job stopped by its watch
"""


@linux_only
def test_a_process_the_job_forks_dies_with_the_job():
    job = subprocess.run([sys.executable, "-c", FORKING_JOB], capture_output=True,
                         text=True, env=python_env(), timeout=60)
    child = int(job.stdout)
    assert gone_within([child], 3) is not None, "the forked child outlived its job"


@linux_only
def test_a_job_watches_only_its_own_snakemake_on_its_own_host():
    env: dict[str, str] = {}
    record_snakemake(env)  # what a parse of the Snakefile records, e.g. on a cluster node
    me = ProcessIdentity.decode(env[ENV])
    assert me == identity()
    parent = identity(os.getppid())
    assert watched_snakemake({ENV: parent.encode()}) == parent  # an ancestor
    other_host = ProcessIdentity("elsewhere", parent.pid_namespace, parent.pid,
                                 parent.start_time)
    assert watched_snakemake({ENV: other_host.encode()}) is None  # e.g. the login node
    with subprocess.Popen(["sleep", "30"]) as stranger:  # running, but no ancestor
        assert watched_snakemake({ENV: identity(stranger.pid).encode()}) is None
        stranger.kill()
    assert watched_snakemake({ENV: "not json"}) is None
    assert watched_snakemake({}) is None


# ------------------------------------------------------------------- a killed workflow

TARGET = "results/tiny-world/descriptions/world/cos/fc.csv"
CONFIG = ("--configfile", "configs/tiny-world.yaml")
RECORDED_SHA256 = Path(__file__).parent / "data" / "tiny_world_outputs.sha256"


def job_processes(work: Path) -> list[int]:
    """PIDs of the running job scripts of the workflow copy ``work``."""
    scripts = str(work / ".snakemake" / "scripts")
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and scripts in (entry / "cmdline").read_bytes().decode():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def interrupt_run(work: Path, rule: str, sig: int) -> float | None:
    """Start the run, send ``sig`` to snakemake while job ``rule`` runs, and return the
    seconds its job processes outlived it (None: more than 5 s)."""
    snakemake = subprocess.Popen([sys.executable, "-m", "snakemake", TARGET, "--cores", "2",
                                  *CONFIG], cwd=work, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    try:
        marker = f".{rule}.py"
        wait_for(lambda: any(marker in (Path(f"/proc/{p}/cmdline").read_text())
                             for p in job_processes(work)), 300, f"job {rule} to start")
        time.sleep(2)  # well inside the job
        jobs = job_processes(work)
        assert jobs, f"job {rule} ended before the signal"
        snakemake.send_signal(sig)
        snakemake.wait(timeout=60)
        return gone_within(jobs, 5)
    finally:
        snakemake.kill()


@linux_only
@pytest.mark.slow
def test_a_killed_run_leaves_no_job_running_and_resumes_to_the_same_outputs(tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))

    # kill -9: the jobs stop themselves; the lock stays until `snakemake --unlock`
    lived = interrupt_run(work, "activations", signal.SIGKILL)
    assert lived is not None and lived < 5, f"jobs outlived a kill -9 of snakemake: {lived}"
    assert "is gone" in (work / "results/tiny-world/logs/activations.log").read_text()
    blocked = run_snakemake(TARGET, "--cores", "2", *CONFIG, cwd=work, check=False)
    assert blocked.returncode != 0 and "--unlock" in blocked.stdout + blocked.stderr
    run_snakemake("--unlock", *CONFIG, cwd=work)

    # Ctrl-C: snakemake stops its jobs and removes its lock itself
    lived = interrupt_run(work, "clip_image_embeddings", signal.SIGINT)
    assert lived is not None and lived < 5, f"jobs outlived a SIGINT of snakemake: {lived}"
    assert not list((work / ".snakemake" / "locks").glob("*"))

    # the next run redoes the half-written jobs (rerun-incomplete, profiles/default)
    run_snakemake(TARGET, "--cores", "2", *CONFIG, cwd=work)
    out = work / "results" / "tiny-world"
    recorded = dict(line.split()[::-1] for line in RECORDED_SHA256.read_text().splitlines())
    cos = sorted(n for n in recorded if n.startswith("descriptions/world/cos/")
                 and not n.endswith(".parquet"))
    assert len(cos) == 4  # fc and layer4: CSV and scores
    changed = [n for n in cos if hashlib.sha256((out / n).read_bytes()).hexdigest()
               != recorded[n]]
    assert not changed, f"the resumed run's outputs differ from an uninterrupted run's: {changed}"
    for layer in ("fc", "layer4"):  # parquet files by content: their CSV
        table = pd.read_parquet(out / f"descriptions/world/cos/{layer}.parquet")
        csv = pd.read_csv(out / f"descriptions/world/cos/{layer}.csv")
        assert list(table["concept"]) == list(csv["concept"])
        assert list(table["top5"].map("|".join)) == list(csv["top5"])


# ------------------------------------------------------------- texts CLIP's context cuts

def test_texts_longer_than_the_clip_context_are_reported_once_with_the_longest(caplog):
    import open_clip

    from conceptlens.models.clip import WORLD_CLIP_NAME, create_world_clip, encode_texts

    model = create_world_clip().eval()  # random weights, a context of 24 tokens
    tokenizer = open_clip.get_tokenizer(WORLD_CLIP_NAME)
    longest = "a " * 40 + "very long concept"
    length = len(tokenizer.encode(longest)) + 2  # with the start and end tokens
    texts = ["red circle", "a " * 30 + "star", longest, "blue square", "a " * 22]
    with caplog.at_level(logging.WARNING, logger="conceptlens"):
        emb = encode_texts(model, tokenizer, texts, batch_size=2)  # the cut ones in 2 batches
    assert emb.shape == (5, 128)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and "were cut" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("2 of 5 texts are longer than CLIP's 24 tokens")
    assert f"'{longest[:57]}...' ({length} tokens)" in warnings[0]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="conceptlens"):
        encode_texts(model, tokenizer, ["red circle", "a " * 22])  # 24 tokens: fits
    assert not [r for r in caplog.records if "were cut" in r.getMessage()]
