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
    from conceptlens.config import method_settings, report_grid_methods, report_method

    config = load_config(REPO / "config.yaml")
    methods = method_settings(config)
    assert report_method(config, methods) == "gradcam_tvmf"
    assert report_grid_methods(config, methods) == {
        "WWW": "www", "Grad-CAM + t-vMF": "gradcam_tvmf", "CLIP-Dissect": "soft_wpmi"}
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
