"""Bad inputs (issue 19): each case stops early with one line naming the file or the config
key, what is wrong and what to do, and leaves no output behind nor destroys one.

:data:`CASES` is the table of bad inputs run through the workflow on a run with finished
outputs; each asserts the exit status, the line naming the key or file, and that every
output of the run is still there, unchanged, with nothing new beside it.  The units of
each check have their own tests: images (``test_bad_inputs_images.py``), checkpoints and
imported descriptions (``test_bad_inputs_checkpoints.py``), killed runs and the tokenizer
(``test_bad_inputs_processes.py``).  Config cases need no model and no job."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conceptlens.config import (
    ConfigError,
    deep_merge,
    fit_stability_to_probe,
    load_config,
    read_config_file,
)
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


# ---------------------------------------------- the table: bad inputs on a finished run

RUN = "bad-inputs"


@dataclass(frozen=True)
class BadInput:
    """A bad input: the config keys it changes (over the good run's), the files it writes
    first (``prepare(work)``), and the text of the one line that must name it."""

    config: dict
    needle: str | Callable[[Path], str]
    prepare: Callable[[Path], None] = field(default=lambda work: None)
    changes_probe: bool = False


def _write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda work: (work / name).write_bytes(data)


def _truncate_photo(work: Path) -> None:
    photo = work / "photos" / "extra.jpg"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(photo, quality=90)
    photo.write_bytes(photo.read_bytes()[:200])


CASES = {
    "yaml error in a base file": BadInput(
        {"base": "broken-base.yaml"}, "config file broken-base.yaml, line 3, column 1",
        _write_bytes("broken-base.yaml", b"run: x\nlayers: [layer4\n")),
    "run ..": BadInput({"run": ".."}, "config key run: the name '..'"),
    "method ../../evil": BadInput(
        {"methods": {"../../evil": {"family": "www", "view": "center", "template": "photo"}}},
        "config key methods: the name '../../evil'"),
    "concept set 'my set'": BadInput({"concept_sets": {"my set": "mine.txt"}},
                                     "config key concept_sets: the name 'my set'"),
    "unknown layer": BadInput({"layers": ["layer9"]}, "config key layers: unknown layer"),
    "missing probe folder": BadInput({"probe": {"path": "no-such-folder"}},
                                     "folder 'no-such-folder' not found; set probe.path"),
    "missing imported file": BadInput({"imported": {"theirs": {"path": "nope.csv"}}},
                                      "config key imported.theirs.path: 'nope.csv' does not "
                                      "exist"),
    "random bytes as the target checkpoint": BadInput(
        {"target": {"source": "checkpoint", "name": "resnet18", "path": "random.pt"}},
        lambda work: "config key target.path: 'random.pt'",
        _write_bytes("random.pt", bytes(range(256)) * 64)),
    "a text file as the target checkpoint": BadInput(
        {"target": {"source": "checkpoint", "name": "resnet18", "path": "notes.pt"}},
        lambda work: "config key target.path: 'notes.pt'",
        _write_bytes("notes.pt", b"these are my notes, not weights\n" * 20)),
    "random bytes as a CLIP checkpoint": BadInput(
        {"clip_models": {"world": {"name": "conceptlens-world-clip",
                                   "pretrained": "clip-random.pt"}}},
        "config key clip_models.world.pretrained: 'clip-random.pt'",
        _write_bytes("clip-random.pt", bytes(range(256)) * 64)),
    "a truncated JPEG in the probe folder": BadInput(
        {}, "probe image photos/extra.jpg cannot be decoded (Truncated File Read): remove or "
        "re-save it (config key probe.path: photos)",
        _truncate_photo, changes_probe=True),
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A copy of the workflow with a finished index of a folder probe (6 photos, the
    world target): the outputs that no bad input may remove or change."""
    work = tmp_path_factory.mktemp("bad") / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache",
        "tests", "docs", "benchmarks"))
    (work / "photos").mkdir()
    for i in range(6):
        Image.new("RGB", (40, 30), (40 * i, 90, 200 - 30 * i)).save(work / "photos" / f"{i}.jpg")
    (work / "mine.txt").write_text("red\nblue\n")
    good = {"base": "configs/tiny-world.yaml", "run": RUN,
            "probe": {"source": "folder", "path": "photos"},
            "concept_sets": {"world": None, "mine": "mine.txt"}}
    (work / "good.yaml").write_text(yaml.safe_dump(good))
    run_snakemake(f"results/{RUN}/probe", "--cores", "1", "--configfile", "good.yaml",
                  cwd=work)
    return work, good


def _outputs(work: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime ns) of every file under results/ but the logs."""
    return {str(p.relative_to(work)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in (work / "results").rglob("*") if p.is_file() and "logs" not in p.parts}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_stops_with_one_line_and_keeps_every_output(finished_run, case):
    work, good = finished_run
    if not (work / "results" / RUN / "probe").is_dir():  # a case before re-ran the index
        run_snakemake(f"results/{RUN}/probe", "--cores", "1", "--configfile", "good.yaml",
                      cwd=work)
    bad = CASES[case]
    bad.prepare(work)
    config = deep_merge(good, bad.config)
    (work / "case.yaml").write_text(yaml.safe_dump(config))
    before, photos = _outputs(work), sorted((work / "photos").iterdir())
    try:
        proc = run_snakemake(f"results/{RUN}/probe", "--cores", "1", "--configfile",
                             "case.yaml", cwd=work, check=False)
    finally:
        for extra in set((work / "photos").iterdir()) - set(photos):
            extra.unlink()
    output = proc.stdout + proc.stderr
    needle = bad.needle(work) if callable(bad.needle) else bad.needle
    assert proc.returncode != 0, output
    assert needle in output, output
    assert "weights_only=False" not in output and "not valid JSON or YAML" not in output
    assert "Traceback" not in output, output  # the line alone, no library traceback
    # every finished output is still there, unchanged, and nothing was written beside it;
    # only a changed probe folder re-runs its index, whose stale output then goes
    after = _outputs(work)
    kept = {k: v for k, v in before.items()
            if not (bad.changes_probe and Path(k).parts[2] == "probe")}
    assert {k: after.get(k) for k in kept} == kept
    assert set(after) <= set(before), set(after) - set(before)
    assert not (work.parent / "evil").exists()
