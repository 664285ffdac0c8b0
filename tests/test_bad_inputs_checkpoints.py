"""Bad checkpoints and imported descriptions give one clear line naming the file and the
config key (issue 19), never torch's advice to load with weights_only=False."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
import torch

from conceptlens.imported import ImportedError
from conceptlens.input_files import InputFileError, check_input_files, verify_checkpoints
from conceptlens.models.checkpoint_files import CheckpointError, checkpoint_problem
from conceptlens.models.clip import WORLD_CLIP_NAME, load_clip
from conceptlens.models.target import load_target_checkpoint
from conceptlens.models.torchvision_weights import TargetSpecError
from conceptlens.models.world_layers import WORLD_TARGET_LAYERS
from conceptlens.models.zoo import load_target
from conceptlens.stages.concept_sets import import_descriptions
from tests.conftest import REPO, run_snakemake

UNSAFE_ADVICE = "weights_only=False"


class _Payload:
    """A pickled object that would run code when loaded without weights_only."""

    def __reduce__(self):
        return (os.system, ("echo loaded",))


def _resnet18_state(num_classes: int = 5) -> dict:
    from torchvision.models import resnet18

    torch.manual_seed(0)
    return resnet18(num_classes=num_classes).state_dict()


def _write_checkpoint(case: str, path: Path) -> None:
    """A bad checkpoint file of kind ``case``."""
    if case == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif case == "text file":
        path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\n")
    elif case == "truncated zip":
        torch.save(_resnet18_state(), path)
        path.write_bytes(path.read_bytes()[:50_000])
    elif case == "pickle payload":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.save({"state_dict": _resnet18_state(), "extra": _Payload()}, path)
    elif case == "wrong architecture":
        torch.save(_resnet18_state(), path)
    else:
        raise AssertionError(case)


# what each case's message says (after the file's name)
CHECKPOINT_CASES = {
    "random bytes": "is not a PyTorch checkpoint",
    "text file": "is a text file",
    "truncated zip": "truncated or damaged zip archive",
    "pickle payload": "holds objects weights_only=True refuses to load (posix.system",
    "wrong architecture": "does not fit",
}


def _assert_one_clear_line(message: str, path: Path, key: str, what: str) -> None:
    assert "\n" not in message, message
    assert str(path) in message and key in message and what in message, message
    assert UNSAFE_ADVICE not in message, message


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_bad_target_checkpoint_names_file_and_key(case, tmp_path):
    path = tmp_path / "target.pt"
    _write_checkpoint(case, path)
    expected = TargetSpecError if case == "wrong architecture" else CheckpointError
    with pytest.raises(expected) as caught:
        load_target({"source": "checkpoint", "name": "resnet50", "path": str(path)})
    _assert_one_clear_line(str(caught.value), path, "target.path", CHECKPOINT_CASES[case])
    error = caught.value  # no chained torch error (and its advice) in a traceback
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_bad_world_checkpoint_names_the_shipped_dir(case, tmp_path):
    path = tmp_path / "target.pt"
    _write_checkpoint(case, path)
    what = ("is not a world target checkpoint" if case == "wrong architecture"
            else CHECKPOINT_CASES[case])
    with pytest.raises(CheckpointError) as caught:
        load_target_checkpoint(path)
    _assert_one_clear_line(str(caught.value), path, "world_models.shipped_dir", what)
    assert "world_models.source: train" in str(caught.value)


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_bad_clip_checkpoint_names_file_and_key_not_the_offline_advice(case, tmp_path):
    path = tmp_path / "clip.pt"
    _write_checkpoint(case, path)
    key = "clip_models.mine.pretrained"
    with pytest.raises(CheckpointError) as caught:
        load_clip(WORLD_CLIP_NAME, str(path), key=key)
    message = str(caught.value)
    _assert_one_clear_line(message, path, key, CHECKPOINT_CASES[case])
    assert "offline" not in message and "download" not in message.lower()


@pytest.mark.parametrize("case", ["random bytes", "text file", "truncated zip"])
def test_parse_time_check_names_each_bad_checkpoint(case, tmp_path):
    """The workflow's parse reads each checkpoint's bytes (no torch load): every one that
    is visibly none is named with its key."""
    target, clip = tmp_path / "target.pt", tmp_path / "clip.bin"
    _write_checkpoint(case, target)
    _write_checkpoint(case, clip)
    config = {"target": {"source": "checkpoint", "name": "resnet18", "path": str(target)},
              "clip_models": {"mine": {"name": "ViT-B-32", "pretrained": str(clip)}}}
    with pytest.raises(InputFileError) as caught:
        check_input_files(config)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    _assert_one_clear_line(lines[0], target, "target.path", CHECKPOINT_CASES[case])
    _assert_one_clear_line(lines[1], clip, "clip_models.mine.pretrained",
                           CHECKPOINT_CASES[case])


def test_parse_time_check_passes_good_files_and_the_shipped_world():
    check_input_files({"target": {"source": "world"}, "world_models": {
        "source": "shipped", "shipped_dir": str(REPO / "resources" / "world")}})
    assert checkpoint_problem(REPO / "resources" / "world" / "target.pt") is None


def test_run_start_check_loads_user_checkpoints_weights_only(tmp_path):
    """A pickle payload looks like a checkpoint from its bytes; the check when a run
    starts loads it with weights_only=True (memory-mapped) and stops, naming the key."""
    path = tmp_path / "target.pt"
    _write_checkpoint("pickle payload", path)
    config = {"target": {"source": "checkpoint", "name": "resnet18", "path": str(path)}}
    check_input_files(config)
    with pytest.raises(CheckpointError) as caught:
        verify_checkpoints(config)
    _assert_one_clear_line(str(caught.value), path, "target.path",
                           CHECKPOINT_CASES["pickle payload"])
    _write_checkpoint("wrong architecture", path)
    verify_checkpoints(config)  # a state dict: loads (its fit is checked at load)


def test_unreadable_torchvision_cache_file_is_named_not_downloaded(tmp_path, monkeypatch):
    from conceptlens.models.torchvision_weights import torchvision_cache_file, torchvision_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = torchvision_cache_file(torchvision_weights("resnet18", "IMAGENET1K_V1"))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError) as caught:
        load_target({"source": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1"})
    _assert_one_clear_line(str(caught.value), cached, "target.weights",
                           "is not a PyTorch checkpoint")
    assert "delete the file" in str(caught.value)


# ------------------------------------------------------------------ imported descriptions

WIDTHS = {"layer4": 512, "fc": 10}

IMPORTED_CASES = {
    # case: (CSV text, settings, what the message says)
    "non-integer unit": ("layer,unit,description\nfc,0,ring\nfc,two,star\nfc,2.5,disc\n", {},
                         "column 'unit' holds non-integer unit(s) in row(s) 3 ('two'), 4"),
    "out-of-range unit": ("unit,label\n" + "".join(f"{u},x\n" for u in (3, 10, 11, 12)),
                          {"layer": "fc", "description_column": "label"},
                          "unit(s) out of range for layer fc (10 units, numbered 0-9): 10, 11, "
                          "12"),
    "duplicated unit": ("layer,unit,description\nfc,1,ring\nfc,1,star\nlayer4,7,red\n"
                        "layer4,7,blue\n", {}, "(layer, unit) named twice: fc 1, layer4 7"),
    "unknown layer": ("layer,unit,description\nfc,1,ring\nlayer9,3,star\n", {},
                      "unknown layer(s) 'layer9' of the target"),
}


@pytest.mark.parametrize("case", [*IMPORTED_CASES, "missing file"])
def test_bad_imported_descriptions_name_file_key_and_rows(case, tmp_path):
    path = tmp_path / "nd.csv"
    summary = tmp_path / "target.json"
    summary.write_text(json.dumps({"classes": None, "output_layer": "fc", "widths": WIDTHS}))
    if case == "missing file":
        with pytest.raises(InputFileError) as caught:
            check_input_files({"imported": {"nd": {"path": str(path), "layer": "fc"}}})
        what, expected = "does not exist", InputFileError
    else:
        text, settings, what = IMPORTED_CASES[case]
        path.write_text(text)
        with pytest.raises(ImportedError) as caught:
            import_descriptions(path, settings, name="nd", target_summary=summary,
                                target_layers=WORLD_TARGET_LAYERS)
        expected = ImportedError
    assert isinstance(caught.value, expected)
    _assert_one_clear_line(str(caught.value), path, "imported.nd.path", what)


def test_imported_rows_of_layers_the_run_does_not_describe_are_noted(tmp_path, caplog):
    path, summary = tmp_path / "cd.csv", tmp_path / "target.json"
    path.write_text("layer,unit,description\nfc,9,ring\nlayer3,255,star\n")
    summary.write_text(json.dumps({"classes": None, "output_layer": "fc",
                                   "widths": {"fc": 10}}))
    with caplog.at_level("WARNING"):
        table = import_descriptions(path, {}, name="cd", target_summary=summary,
                                    target_layers=WORLD_TARGET_LAYERS)
    assert len(table) == 2
    assert "1 row(s) of layer layer3, which this run does not describe" in caplog.text
    path.write_text("layer,unit,description\nlayer3,255,star\n")
    with pytest.raises(ImportedError, match="none of its layers"):
        import_descriptions(path, {}, name="cd", target_summary=summary,
                            target_layers=WORLD_TARGET_LAYERS)


def test_missing_imported_file_stops_a_dry_run(tmp_path):
    config = tmp_path / "imported.yaml"
    missing = tmp_path / "nope.csv"
    config.write_text(f"imported:\n  nd: {{path: '{missing}', layer: fc}}\n")
    proc = run_snakemake("-n", "--configfile", "config.yaml", str(config), check=False,
                         timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "imported.nd.path" in output and str(missing) in output, output


def test_an_edited_imported_csv_re_runs_the_import(tmp_path):
    """The CSV is an input of import_descriptions: an output older than it is redone."""
    work = tmp_path / "wf"
    work.mkdir()
    for name in ("Snakefile", "rules", "conceptlens", "scripts", "config.yaml", "configs",
                 "resources", "envs", "profiles"):
        (work / name).symlink_to(REPO / name)
    csv = work / "nd.csv"
    csv.write_text("unit,label\n1,circle\n")
    config = work / "imported.yaml"
    config.write_text(f"imported:\n  nd: {{path: '{csv}', layer: fc, "
                      "description_column: label, unit_base: 1}\n")
    out = work / "results" / "world"
    (out / "activations").mkdir(parents=True)
    (out / "activations" / "target.json").write_text("{}")
    (out / "imported").mkdir()
    (out / "imported" / "nd.parquet").write_text("")
    stamp = csv.stat().st_mtime
    os.utime(out / "activations" / "target.json", (stamp + 1, stamp + 1))
    os.utime(out / "imported" / "nd.parquet", (stamp + 2, stamp + 2))
    args = ("-n", "--configfile", "config.yaml", str(config), "--allowed-rules",
            "import_descriptions", "--", "results/world/imported/nd.parquet")
    assert "Nothing to be done" in run_snakemake(*args, cwd=work, timeout=300).stdout
    csv.write_text("unit,label\n1,star\n")
    os.utime(csv, (stamp + 3, stamp + 3))
    proc = run_snakemake(*args, cwd=work, timeout=300)
    assert "import_descriptions" in proc.stdout and "updated input files" in proc.stdout


def test_the_parse_time_checks_and_the_import_need_no_torch():
    import subprocess
    import sys

    code = ("import sys, conceptlens.input_files, conceptlens.imported, "
            "conceptlens.stages.concept_sets\n"
            "print(sorted({'torch', 'open_clip'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_run_start_check_stops_with_the_checkpoint_line_and_its_log(tmp_path):
    from conceptlens.stages.probe import check_requirements_at_start

    path, images = tmp_path / "target.pt", tmp_path / "images"
    images.mkdir()
    _write_checkpoint("pickle payload", path)
    config = {"run": "x", "target": {"source": "checkpoint", "name": "resnet18",
                                     "path": str(path)},
              "probe": {"source": "folder", "path": str(images)}, "clip_models": {},
              "metrics": {}, "concept_sets": {}, "convis": {"enabled": False}}
    with pytest.raises(SystemExit) as caught:
        check_requirements_at_start(config, tmp_path / "results")
    first = str(caught.value).splitlines()[0]
    _assert_one_clear_line(first, path, "target.path", CHECKPOINT_CASES["pickle payload"])
    assert "internet" not in str(caught.value)  # not the offline advice
    assert first in (tmp_path / "results" / "logs" / "check_requirements.log").read_text()


def test_bad_shipped_world_checkpoint_stops_a_dry_run(tmp_path):
    shipped = tmp_path / "world"
    shipped.mkdir()
    _write_checkpoint("text file", shipped / "target.pt")
    _write_checkpoint("truncated zip", shipped / "clip.pt")
    config = tmp_path / "shipped.yaml"
    config.write_text(f"world_models: {{source: shipped, shipped_dir: '{shipped}'}}\n")
    proc = run_snakemake("-n", "--configfile", "config.yaml", str(config), check=False,
                         timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for name, what in (("target.pt", "is a text file"), ("clip.pt", "truncated or damaged")):
        line = next(x for x in output.splitlines() if str(shipped / name) in x)
        _assert_one_clear_line(line, shipped / name, "world_models.shipped_dir", what)
