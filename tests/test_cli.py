"""The ``conceptlens`` command line without running a model: --help without the heavy
libraries, --version, one-line usage errors with exit code 2, list options that cannot
swallow positional arguments, the --out formats and describe's default concept set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest

from conceptlens import cli, concept_sets
from conceptlens.cli import build_parser, main
from conceptlens.io.descriptions import TABLE_SUFFIXES, save_description_table
from conceptlens.quick import default_concepts, load_concepts, target_spec
from tests.conftest import REPO

HEAVY = ("torch", "torchvision", "open_clip", "pandas", "pytorch_grad_cam",
         "sentence_transformers", "matplotlib", "weasyprint")


def test_help_of_every_command_loads_no_heavy_library():
    """``conceptlens [COMMAND] --help`` in a fresh interpreter: argparse answers before
    torch, open_clip or pandas load (they take 7-10 s; benchmarks/cli_help.py times it)."""
    probe = (
        "import sys\n"
        "from conceptlens.cli import main\n"
        "for command in ([], ['describe'], ['convis'], ['check-config']):\n"
        "    try:\n"
        "        main([*command, '--help'])\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, (command, stop.code)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "exit codes: 0 done; 1 " in proc.stdout


def test_top_level_help_lists_the_same_commands_without_building_them():
    assert build_parser(()).format_help() == build_parser().format_help()
    assert "describe an image folder" not in build_parser(()).format_help()
    for name in cli.SUBCOMMANDS:
        assert name in build_parser(()).format_help()


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert capsys.readouterr().out == f"conceptlens {project['version']}\n"


def _usage_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, not the page of describe's usage
    return err


@pytest.mark.parametrize("out", ["table.xyz", "table.JSONL", "table"])
def test_unknown_out_format_is_a_one_line_usage_error(tmp_path, capsys, out):
    err = _usage_error(["describe", str(tmp_path), "--out", str(tmp_path / out)], capsys)
    assert err.startswith("conceptlens describe: error: argument --out: ")
    assert "unknown format" in err and "use .csv, .tsv, .json, .parquet" in err
    assert not list(tmp_path.iterdir())


def test_out_formats_are_the_ones_the_table_writer_knows():
    assert tuple(cli.OUT_FORMATS) == TABLE_SUFFIXES
    with pytest.raises(ValueError, match=r"unknown table format '\.xyz'"):
        save_description_table(pd.DataFrame({"unit": [0]}), "table.xyz")


@pytest.mark.parametrize(("argv", "needle"), [
    (["--units", "0", "3", "FOLDER"], "'3' after it was read as IMAGE_FOLDER"),
    (["--units", "0", "3"], "'3' after it was read as IMAGE_FOLDER"),
    (["FOLDER", "--units", "0", "3"], "unrecognized argument '3'"),
    (["FOLDER", "--units", "0", "3-5"], "unrecognized argument '3-5'"),
])
def test_units_cannot_swallow_the_folder(capsys, argv, needle):
    err = _usage_error(["describe", *argv], capsys)
    assert err.startswith("conceptlens describe: error: --units takes one comma-separated "
                          "list (e.g. --units 0,3): ")
    assert needle in err


def test_list_options_take_comma_separated_values(tmp_path, capsys):
    args = build_parser().parse_args(["describe", "--units", "0,3", "--units", "5-7",
                                      str(tmp_path)])
    assert args.units == ["0,3", "5-7"] and args.folder == tmp_path
    for sizes in (["96,48"], ["96", "48"]):
        args = build_parser().parse_args(["convis", "a.png", "circle", "--window-sizes", *sizes,
                                          "--clip", "x", "--hierarchy", "h.tsv"])
        assert sum(args.window_sizes, []) == [96, 48]
    # integers only: the image after it is an error, not a window size
    err = _usage_error(["convis", "--window-sizes", "96", "48", "a.png", "circle", "--clip",
                        "x", "--hierarchy", "h.tsv"], capsys)
    assert ("argument --window-sizes: 'a.png' is not an integer or a comma-separated list of "
            "them (give positional arguments first)") in err


def test_convis_defaults_are_conceptlens_convis_own():
    from conceptlens import convis

    assert (cli.DEFAULT_WINDOWS, cli.DEFAULT_STRIDE, cli.REFERENCE_SIZE) == (
        convis.DEFAULT_WINDOWS, convis.DEFAULT_STRIDE, convis.REFERENCE_SIZE)


def test_an_input_error_exits_1_with_one_message(tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["describe", str(tmp_path / "nowhere")])
    assert isinstance(stop.value.code, str)  # printed on stderr, exit status 1
    assert stop.value.code.startswith("conceptlens describe: image folder ")


def test_default_concepts_are_the_world_vocabulary_for_world_models_else_wordnet(monkeypatch):
    assert default_concepts(target_spec()) == "world"
    assert default_concepts(target_spec("runs/world_target.pt")) == "world"
    assert default_concepts(target_spec("resnet50")) == "wordnet"
    assert default_concepts(target_spec("model.pt", arch="resnet50")) == "wordnet"
    assert default_concepts(target_spec("timm:vit_small_patch16_224")) == "wordnet"
    monkeypatch.setattr(concept_sets, "wordnet_nouns", lambda: ["entity", "dog"])
    assert load_concepts("wordnet") == ["entity", "dog"]
    assert len(load_concepts("world")) == 142

    def missing():
        raise concept_sets.ConceptSetError("WordNet 3.0 is not installed")
    monkeypatch.setattr(concept_sets, "wordnet_nouns", missing)
    with pytest.raises(ValueError, match="--concepts wordnet: WordNet 3.0 is not installed"):
        load_concepts("wordnet")


def test_tables_are_written_in_each_format(tmp_path):
    table = pd.DataFrame({"layer": ["fc", "fc"], "unit": [0, 1], "concept": ["dog", "cat"],
                          "concepts": [["dog"], ["cat", "lynx"]],
                          "scores": [np.array([0.5]), np.array([0.25, 0.125])],
                          "top_images": [["a/1.png", "a/2.png"], ["a/3.png", "a/1.png"]]})
    for suffix in TABLE_SUFFIXES:
        save_description_table(table, tmp_path / f"t{suffix}")
    assert pd.read_parquet(tmp_path / "t.parquet")["top_images"].map(list).tolist() == [
        ["a/1.png", "a/2.png"], ["a/3.png", "a/1.png"]]
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        back = pd.read_csv(tmp_path / f"t{suffix}", sep=sep)
        assert back["top_images"].tolist() == ["a/1.png|a/2.png", "a/3.png|a/1.png"]
        assert back["scores"].tolist() == ["0.5000", "0.2500|0.1250"]
    records = json.loads((tmp_path / "t.json").read_text())
    assert records[1] == {"layer": "fc", "unit": 1, "concept": "cat", "concepts": ["cat", "lynx"],
                          "scores": [0.25, 0.125], "top_images": ["a/3.png", "a/1.png"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"t{s}" for s in sorted(TABLE_SUFFIXES)]
