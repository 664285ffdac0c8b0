"""The SLURM profile (profiles/slurm): what it asks for in a dry run of the ImageNet preset,
and the tiny world run through SLURM on a single-node cluster on this machine
(tests/cluster/start_slurm.sh: Debian's slurmctld + slurmd with munge, which `make test` and
`make test-cluster` install where they can; without them, or without root, those tests are
skipped with the reason)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, dry_run_jobs, run_snakemake

PROFILE = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
CLUSTER = REPO / "tests" / "cluster"
SLURM_STATE = "/tmp/conceptlens-slurm"
#: the single-node cluster's programs and the Debian package of each (Makefile APT_TEST)
SLURM_TOOLS = {"slurmctld": "slurmctld", "slurmd": "slurmd", "munged": "munge",
               "sbatch": "slurm-client"}


def _installed(tool: str) -> bool:
    return bool(shutil.which(tool)) or os.path.exists(f"/usr/sbin/{tool}")


def missing_slurm_tools(found=_installed) -> list[str]:
    """The Debian packages of the cluster's programs that are not installed here."""
    return [package for tool, package in SLURM_TOOLS.items() if not found(tool)]


def slurm_skip_reason(euid: int | None = None, found=_installed) -> str | None:
    """Why the single-node cluster cannot start here (None: it can)."""
    if (os.geteuid() if euid is None else euid) != 0:
        return "starts slurmctld, slurmd and munged: needs root"
    if missing := missing_slurm_tools(found):
        return (f"SLURM is not installed ({', '.join(missing)} missing): `make test-cluster` "
                f"installs it as root or with password-less sudo, or apt-get install -y "
                f"{' '.join(missing)}")
    return None


def _rules_with(marker: str) -> set[str]:
    """Rules of rules/*.smk whose body contains ``marker``."""
    found = set()
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule )", smk.read_text(), flags=re.M):
            name = re.match(r"rule (\w+):", block)
            if name and marker in block:
                found.add(name.group(1))
    return found


GPU_RULES = _rules_with("gpu=1")
LOCAL_RULES = _rules_with("localrule: True") | {"all"}


def _dry_run_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """Rule -> the resources of each of its jobs, from a dry run's job listing."""
    jobs: dict[str, list[dict[str, str]]] = {}
    rule = None
    for line in output.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line):
            rule = m.group(1)
        elif rule and (m := re.match(r"\s+resources: (.*)$", line)):
            pairs = (kv.split("=", 1) for kv in m.group(1).split(", "))
            jobs.setdefault(rule, []).append(dict(pairs))
            rule = None
    return jobs


def test_the_cluster_tests_say_why_they_are_skipped():
    assert slurm_skip_reason(euid=1000) == "starts slurmctld, slurmd and munged: needs root"
    assert slurm_skip_reason(euid=0, found=lambda tool: False) == (
        "SLURM is not installed (slurmctld, slurmd, munge, slurm-client "
        "missing): `make test-cluster` installs it as root or with password-less sudo, or "
        "apt-get install -y slurmctld slurmd munge slurm-client")
    assert slurm_skip_reason(euid=0, found=lambda tool: tool != "sbatch").startswith(
        "SLURM is not installed (slurm-client missing)")
    assert slurm_skip_reason(euid=0, found=lambda tool: True) is None
    makefile = (REPO / "Makefile").read_text()
    test_packages = re.search(r"^APT_TEST := (.*)$", makefile, re.M)[1].split()
    assert set(SLURM_TOOLS.values()) <= set(test_packages)
    demo_packages = re.search(r"^APT_DEMO := (.*)$", makefile, re.M)[1].split()
    assert not set(SLURM_TOOLS.values()) & set(demo_packages)  # make demo needs no SLURM


def test_no_profile_prints_shell_commands_the_rules_do_not_have():
    """printshellcmds printed 'Shell command: None' for every job: no rule has shell:."""
    workflow = [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")]
    if not any(re.search(r"^\s+shell:", f.read_text(), re.M) for f in workflow):
        for profile in (REPO / "profiles").glob("*/config.yaml"):
            assert "printshellcmds" not in yaml.safe_load(profile.read_text()), profile


def test_every_gpu_rule_has_its_slurm_resources():
    assert GPU_RULES >= {"activations", "describe", "clip_image_embeddings"}
    assert set(PROFILE["set-resources"]) == GPU_RULES
    assert PROFILE["executor"] == "slurm"


def test_slurm_profile_dry_run_lists_the_imagenet_grid_with_gpu_jobs():
    out = run_snakemake("-n", "--profile", "profiles/slurm",
                        "--configfile", "configs/imagenet-resnet50.yaml").stdout
    jobs = dry_run_jobs(out)
    # the same DAG as without the profile (tests/test_presets.py)
    assert "check_requirements" not in jobs and jobs["probe_index"] == 1
    assert jobs["describe"] == 3  # one a concept set, each with its 4 methods
    assert jobs["metrics"] == 3
    assert jobs["wordnet_hierarchy"] == 1 and jobs["report"] == 1
    resources = _dry_run_resources(out)
    assert sum(len(r) for r in resources.values()) == sum(jobs.values())
    for rule, each_job in resources.items():
        for res in each_job:
            if rule in GPU_RULES:  # sbatch --gpus=1 --cpus-per-gpu=THREADS --mem 32000 -t 180
                assert res["gpu"] == "1" and "cpus_per_gpu" in res, rule
                assert (res["mem_mb"], res["runtime"]) == ("32000", "180"), rule
            else:
                assert "gpu" not in res, rule
                assert (res["mem_mb"], res["runtime"]) == ("8000", "60"), rule
            assert "cpus_per_task" not in res, rule  # it would replace cpus_per_gpu


@pytest.fixture(scope="module")
def slurm_cluster():
    """The single-node cluster, up for this module's tests, then stopped."""
    if reason := slurm_skip_reason():
        pytest.skip(reason)
    start = subprocess.run(["bash", str(CLUSTER / "start_slurm.sh"), SLURM_STATE],
                           capture_output=True, text=True, timeout=300)
    assert start.returncode == 0, start.stdout + start.stderr
    yield SLURM_STATE  # sbatch, squeue, srun find it in /run/slurm/conf (configless slurmd)
    subprocess.run(["bash", str(CLUSTER / "stop_slurm.sh"), SLURM_STATE], timeout=120)


def _test_profile() -> dict:
    """profiles/slurm as it runs on the test node: the GPU jobs without a GPU (the node has
    none) and their memory capped to fit it; squeue for job states (no slurmdbd for sacct);
    the SLURM logs of successful jobs kept for the assertions; status checks every 5 s."""
    gpu_rules = {rule: {**res, "gpu": 0, "mem_mb": f"min({res['mem_mb']}, 8000)"}
                 for rule, res in PROFILE["set-resources"].items()}
    return {"set-resources": gpu_rules, "slurm-status-command": "squeue",
            "slurm-keep-successful-logs": True, "slurm-init-seconds-before-status-checks": 5}


@pytest.fixture(scope="module")
def tiny_world_on_slurm(slurm_cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("slurm") / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))
    (work / "test-profile").mkdir()
    (work / "test-profile" / "config.yaml").write_text(yaml.safe_dump(_test_profile()))
    # the documented command (profiles/default, the workflow profile, is read too)
    # threads=2 (the tiny world's own is 1) so that the CPUs asked for show the rule's threads
    args = ("--profile", "profiles/slurm", "--profile", "test-profile",
            "--configfile", "configs/tiny-world.yaml", "--config", "threads=2")
    planned = dry_run_jobs(run_snakemake("-n", *args, cwd=work).stdout)
    proc = run_snakemake(*args, cwd=work, timeout=3600)
    return work, planned, proc


@pytest.mark.slow
def test_tiny_world_runs_through_slurm(tiny_world_on_slurm, slurm_cluster):
    work, planned, proc = tiny_world_on_slurm
    out = work / "results" / "tiny-world"
    table = pd.read_csv(out / "metrics" / "world" / "table1.csv")
    assert {"www", "gradcam_tvmf"} <= set(table["method"])
    assert "<html" in (out / "report.html").read_text()
    # Each job of a rule that is not local went through sbatch: one SLURM log per job, in
    # .snakemake/slurm_logs/rule_<name>/[<wildcards>/]<SLURM job id>.log ...
    log_root = work / ".snakemake" / "slurm_logs"
    rule_of = {log: log.relative_to(log_root).parts[0][len("rule_"):]
               for log in log_root.rglob("*.log")}
    assert Counter(rule_of.values()) == {
        rule: n for rule, n in planned.items() if rule not in LOCAL_RULES}
    assert "submitted with SLURM jobid" in proc.stdout + proc.stderr
    # ... and slurmctld recorded each one as completed on this node, with the profile's
    # memory (8000 MB: the default's, and the GPU rules' capped to it) and the rule's
    # threads as its CPUs (`threads: 2` from the command line, or 1).
    completions = (Path(slurm_cluster) / "log" / "jobcomp.log").read_text()
    records = {m["id"]: m for m in re.finditer(
        r"JobId=(?P<id>\d+) .*?JobState=(?P<state>\w+) .*?NodeList=(?P<node>\S+) "
        r".*?Tres=cpu=(?P<cpus>\d+),mem=(?P<mem>\w+),", completions)}
    threaded = _rules_with("threads: THREADS")
    node = socket.gethostname().split(".")[0]
    for log, rule in rule_of.items():
        record = records[log.stem]
        assert (record["state"], record["node"]) == ("COMPLETED", node), log
        assert record["mem"] == "8000M", log
        assert record["cpus"] == ("2" if rule in threaded else "1"), log
