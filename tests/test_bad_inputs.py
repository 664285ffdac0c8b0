"""Bad inputs (issue 19): each case stops early with one line naming the file or the config
key, what is wrong and what to do, and leaves no output behind nor destroys one.

Config and name cases need no model and no job (a dry run or the config loader); the
cases that run jobs are marked ``slow``."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from conceptlens.config import ConfigError, fit_stability_to_probe, load_config, read_config_file
from tests.conftest import REPO, dry_run_jobs, run_snakemake

# ------------------------------------------------------------------ YAML syntax errors

BROKEN_YAML = {
    "unclosed bracket": ("run: x\nlayers: [layer4\n", "line 3, column 1", "line 2, column 9"),
    "tab indentation": ("run: x\nviews:\n\tcenter_fraction: 0.5\n", "line 3, column 1",
                        "'\\t'"),
    "unclosed quote": ('run: x\nconcept_sets:\n  mine: "a.txt\n', "line 4, column 1",
                       "quoted scalar"),
    "not a mapping": ("- run\n- x\n", "holds list", "not a mapping of config keys"),
}


@pytest.mark.parametrize("case", list(BROKEN_YAML))
def test_a_yaml_error_names_the_file_line_and_column(tmp_path, case):
    text, where, what = BROKEN_YAML[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_config_file(path)
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert str(path) in message and where in message and what in message


def test_a_yaml_error_in_a_base_file_is_named_by_the_workflow(tmp_path):
    """An overlay's ``base:`` file is read by the workflow, which names its line."""
    base = tmp_path / "base.yaml"
    base.write_text("run: x\nlayers: [layer4\n")
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(f"base: {base}\nrun: y\n")
    proc = run_snakemake("-n", "--configfile", str(overlay), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config file {base}, line 3, column 1: not valid YAML" in output, output
    assert len(output.splitlines()) < 15, output


def test_a_yaml_error_in_the_default_config_is_named_before_snakemake_reads_it(tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache",
        "resources", "tests", "docs", "benchmarks"))
    with open(work / "config.yaml", "a") as f:
        f.write("layers: [layer4\n")
    proc = run_snakemake("-n", cwd=work, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config file config.yaml, line" in output and "not valid YAML" in output, output
    assert "not valid JSON or YAML" not in output  # Snakemake's message names no line


def test_check_config_names_the_line_of_a_broken_configfile(tmp_path):
    """Snakemake reads a --configfile itself and names no line: conceptlens check-config
    does, and says a good file is valid."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("run: x\nlayers: [layer4\n")
    proc = subprocess.run([sys.executable, "-m", "conceptlens.cli", "check-config",
                           "configs/tiny-world.yaml", str(broken)], cwd=REPO, text=True,
                          capture_output=True)
    assert proc.returncode == 2
    assert f"config file {broken}, line 3, column 1" in proc.stderr
    assert proc.stdout.startswith("configs/tiny-world.yaml: valid (run 'tiny-world'")


# ------------------------------------------------------- names that would become paths

BAD_NAMES = [
    ("run", "..", "config key run: the name '..'"),
    ("run", "a/b", "config key run: the name 'a/b'"),
    ("methods", {"../../evil": {"family": "www", "view": "center", "template": "photo"}},
     "config key methods: the name '../../evil'"),
    ("concept_sets", {"..": None}, "config key concept_sets: the name '..'"),
    ("concept_sets", {"my set": "x.txt"}, "config key concept_sets: the name 'my set'"),
    ("imported", {"a/b": {"path": "x.csv"}}, "config key imported: the name 'a/b'"),
    ("clip_models", {".hidden": {"name": "ViT-B-32"}},
     "config key clip_models: the name '.hidden'"),
]


@pytest.mark.parametrize(("key", "value", "needle"), BAD_NAMES,
                         ids=[f"{k}={v}" for k, v, _ in BAD_NAMES])
def test_a_name_that_would_escape_its_folder_is_a_config_error(tmp_path, key, value, needle):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"base": "config.yaml", key: value}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)
    assert "cannot be a folder or file name under results/" in str(err.value)


def test_the_workflow_stops_on_a_bad_name_before_any_output(tmp_path):
    """A method named ``../../evil`` is named in a few lines by the parse; nothing is
    written beside or above results/."""
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache",
        "tests", "docs", "benchmarks"))
    before = set(work.parent.rglob("*"))
    methods = "methods={'../../evil': {'family': 'www', 'view': 'center', 'template': 'photo'}}"
    proc = run_snakemake("--cores", "1", "--config", methods, cwd=work, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key methods: the name '../../evil'" in output, output
    assert len(output.splitlines()) < 15, output
    created = {p for p in set(work.parent.rglob("*")) - before if ".snakemake" not in p.parts}
    assert not created, created


# ----------------------------------------- settings checked against the probe size early


def test_settings_larger_than_the_probe_set_are_fitted_at_parse_time(tmp_path):
    """k, top_k, top_fraction and stability's ks are fitted to the probe size when the
    workflow is parsed, one line each, before any job (a dry run plans no failing job)."""
    overlay = tmp_path / "small.yaml"
    overlay.write_text(yaml.safe_dump({
        "base": "configs/tiny-world.yaml", "world": {"probe_images": 16},
        "methods": {"www": {"k": 500}},
        "stability": {"ks": [5, 10, 16, 40], "subsample": {"k": 20}}}))
    proc = run_snakemake("-n", "--forceall", "--configfile", str(overlay))
    output = proc.stdout + proc.stderr
    for line in ("methods.www.k = 500 is more than the 16 probe images: lowered to 16",
                 "methods.rank_reorder.top_fraction = 0.05 keeps fewer than 2 of the 16 probe "
                 "images: raised to 0.125",
                 "stability.ks = [5, 10, 16, 40] has values more than the 16 probe images: "
                 "lowered to [5, 10, 16]",
                 "stability.subsample.k = 20 is more than the 13 images of a sub-sample: "
                 "lowered to 13"):
        assert f"conceptlens: {line}" in output, line
    assert dry_run_jobs(proc.stdout)["stability"] == 1


def test_stability_settings_are_fitted_to_the_probe_size():
    stability = {"ks": [5, 10, 16], "subsample": {"fraction": 0.8, "k": 10, "seeds": [0]}}
    assert fit_stability_to_probe(stability, 2000) == (stability, [])
    fitted, notes = fit_stability_to_probe(stability, 8)
    assert fitted["ks"] == [5, 8] and fitted["subsample"]["k"] == 6
    assert stability["ks"] == [5, 10, 16]  # the config itself is not changed
    assert len(notes) == 2 and notes[0].startswith("stability.ks = [5, 10, 16]")
