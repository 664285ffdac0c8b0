"""Configuration: schema validation, defaults, and errors that name the bad key or value."""

from __future__ import annotations

import pytest
import yaml

from conceptlens.config import ConfigError, load_config
from tests.conftest import REPO


def _write(tmp_path, config: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_default_config_is_valid_and_filled_with_defaults():
    config = load_config(REPO / "config.yaml")
    assert config["run"] == "world"
    assert config["world"]["probe_images"] == 2000
    assert config["ground_truth"]["auroc_threshold"] == 0.85


def test_minimal_config_gets_every_default(tmp_path):
    config = load_config(_write(tmp_path, {"run": "x"}))
    assert config["world"]["image_size"] == 64
    assert config["world_models"]["source"] == "shipped"
    assert config["world_models"]["target"]["steps"] > 0
    assert config["world_models"]["target"]["precision"] == "autocast"
    assert config["layers"] == ["layer4", "fc"]


@pytest.mark.parametrize(("config", "needle"), [
    ({"run": "x", "wrld": {}}, "wrld"),
    ({"run": "x", "world": {"probe_images": 3}}, "probe_images"),
    ({"run": "x", "world": {"image_size": 60}}, "image_size"),
    ({"run": "x", "device": "tpu"}, "tpu"),
    ({"run": "x", "world_models": {"clip": {"steps": 5, "batch_size": 8, "lr": 0.1,
                                            "precision": "half"}}}, "half"),
    ({"run": "bad name/"}, "run"),
])
def test_schema_errors_name_the_key_or_value(tmp_path, config, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(_write(tmp_path, config))


def _error(path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


def test_top_level_typo_is_named_with_a_suggestion_in_a_few_lines(tmp_path):
    path = _write(tmp_path, {"run": "x", "thread": 4})
    message = _error(path)
    assert "config key thread: unknown key; did you mean threads?" in message
    assert "valid keys: ablation, base, batch_size" in message and "world_models" in message
    assert str(path) in message.splitlines()[0]
    assert len(message.splitlines()) <= 10


def test_nested_typo_is_named_by_its_path(tmp_path):
    message = _error(_write(tmp_path, {"run": "x", "world": {"probe_imags": 3}}))
    assert "config key world.probe_imags: unknown key; did you mean probe_images?" in message
    assert "valid keys of world: central_distractor_probability, image_size" in message


def test_bad_enum_value_names_the_allowed_values(tmp_path):
    message = _error(_write(tmp_path, {"run": "x", "device": "tpu"}))
    assert "config key device: 'tpu' is not one of the allowed values: auto, cpu, cuda" in message


@pytest.mark.parametrize(("config", "line"), [
    ({"world": {"probe_images": 3}}, "world.probe_images: 3 is less than the minimum 16"),
    ({"world": {"probe_images": "many"}}, "world.probe_images: 'many' is not an integer"),
    ({"run": "bad name/"}, "run: the name 'bad name/' cannot be a folder or file name"),
    ({"layers": []}, "layers: [] has fewer than 1 item(s)"),
    ({"stability": {"functions": ["cos"]}}, "stability.functions[0]: 'cos' is not one of"),
    ({"methods": {"m": {"family": "www", "view": "full"}}}, "methods.m.template is required"),
    ({"world": 5}, "config key world: 5 is not a mapping"),
])
def test_constraint_errors_name_the_key_and_the_constraint(tmp_path, config, line):
    message = _error(_write(tmp_path, {"run": "x", **config}))
    assert line in message
    assert len(message.splitlines()) <= 3


def test_overlay_errors_name_the_overlay_and_its_base(tmp_path):
    path = _write(tmp_path, {"base": str(REPO / "config.yaml"), "threds": 1})
    first = _error(path).splitlines()[0]
    assert str(path) in first and "(base " in first and "config.yaml" in first


def test_config_sources_name_files_bases_and_command_line_keys(monkeypatch):
    from conceptlens.config import config_sources

    monkeypatch.chdir(REPO)
    assert (config_sources(["config.yaml"], {"thread": 4})
            == "config.yaml, command-line --config thread")
    assert (config_sources([REPO / "configs/tiny-world.yaml"])
            == "configs/tiny-world.yaml (base config.yaml)")


@pytest.mark.parametrize("name", ["config.yaml", "configs/tiny-world.yaml",
                                  "configs/imagenet-resnet50.yaml"])
def test_defaults_are_filled_as_snakemake_validate_fills_them(name):
    import copy

    from snakemake.utils import validate

    from conceptlens.config import SCHEMA_PATH, WORKFLOW_DIR, apply_base, validate_config

    config = yaml.safe_load((REPO / name).read_text())
    apply_base(config, WORKFLOW_DIR)
    ours, snakemakes = copy.deepcopy(config), copy.deepcopy(config)
    validate_config(ours, name)
    validate(snakemakes, str(SCHEMA_PATH))
    assert ours == snakemakes and list(ours) == list(snakemakes)


def test_unknown_layer_lists_valid_names(tmp_path):
    with pytest.raises(ConfigError, match=r"layers.*layer5.*layer4"):
        load_config(_write(tmp_path, {"run": "x", "layers": ["layer5"]}))


def test_missing_shipped_checkpoints_are_named(tmp_path):
    cfg = {"run": "x", "world_models": {"shipped_dir": str(tmp_path / "none")}}
    with pytest.raises(ConfigError, match="target.pt.*clip.pt.*source: train"):
        load_config(_write(tmp_path, cfg))


@pytest.mark.parametrize(("section", "needle"), [
    ({"stability": {"concept_sets": ["imagenet"]}}, r"stability.concept_sets.*'imagenet'.*world"),
    ({"stability": {"layers": ["layer9"]}}, r"stability.layers.*'layer9'.*layer4"),
    ({"stability": {"template": "fancy"}}, r"stability.template.*'fancy'.*bare"),
    ({"stability": {"clip_model": "vitb"}}, r"stability.clip_model.*'vitb'"),
    ({"convis": {"clip_model": "vitb"}}, r"convis.clip_model.*'vitb'"),
    ({"report": {"method": "netdissect"}}, r"report.method.*'netdissect'.*www"),
    ({"report": {"grid_methods": {"X": "nope"}}}, r"report.grid_methods.*'nope'"),
    ({"report": {"layers": ["layer3"]}}, r"report.layers.*'layer3'.*layers"),
    ({"report": {"concept_set": "broden"}}, r"report.concept_set.*'broden'"),
    ({"stability": {"functions": ["cos"]}}, r"functions"),
    ({"convis": {"wordnet_root": "dog"}}, r"wordnet_root"),
])
def test_analysis_and_report_names_must_exist(tmp_path, section, needle):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for key, value in section.items():
        config[key] = {**config[key], **value}
    with pytest.raises(ConfigError, match=needle):
        load_config(_write(tmp_path, config))


def test_report_defaults_follow_the_configured_methods():
    from conceptlens.config import report_grid_methods, report_method
    from conceptlens.methods import method_settings

    config = load_config(REPO / "config.yaml")
    methods = method_settings(config)
    assert report_method(config, methods) == "gradcam_tvmf"
    assert report_grid_methods(config, methods) == {
        "WWW": "www", "Grad-CAM + t-vMF": "gradcam_tvmf", "CLIP-Dissect (soft-WPMI)": "soft_wpmi"}
    only_www = {"www": methods["www"]}
    assert report_method(config, only_www) == "www"
    assert report_grid_methods(config, only_www) == {"WWW": "www"}


def test_world_layer_list_matches_the_built_target_and_needs_no_torch():
    import subprocess
    import sys

    from conceptlens.config import target_layers
    from conceptlens.models.target import build_world_target
    from conceptlens.models.zoo import layer_names

    assert target_layers({"source": "world"}) == layer_names(build_world_target(8))
    # a world config is checked (as every workflow parse does) without importing torch
    code = ("import sys; from conceptlens.config import load_config; "
            "load_config('config.yaml'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_long_list_of_valid_names_shows_close_matches_only():
    from conceptlens.config import _check_names

    modules = [f"encoder.layers.encoder_layer_{i}.mlp.{j}" for i in range(12) for j in range(5)]
    with pytest.raises(ConfigError) as err:
        _check_names("layers", ["encoder.layers.encoder_layer_11.mlp.9"], modules, "a layer")
    message = str(err.value)
    assert "60 valid; close: encoder.layers.encoder_layer_11.mlp." in message
    assert len(message) < 400
    with pytest.raises(ConfigError, match=r"\(a, b\)"):
        _check_names("layers", ["c"], ["a", "b"], "a layer")
