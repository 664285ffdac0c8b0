"""One source of defaults: config.yaml states the schema's defaults, every schema key is
documented, and the library reads config.yaml's values without torch."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import yaml

from conceptlens.config import config_schema, default_config
from tests.conftest import REPO

# Values of the world demo that differ from the schema default on purpose: the schema's
# default suits any target, config.yaml's was chosen and measured for the world (README).
DEMO_OVERRIDES = {
    "report.title": "the demo's report names the synthetic world",
    "stability.layers": "every world block is pooled; null (= `layers`) fits any architecture",
    "views.gradcam_fraction": "the world's 0.5 Grad-CAM window can leave the central "
                              "distractor out; null (the centre crop's side) fits any target",
    "views.gradcam_peak": "the world target's layer4 Grad-CAM is 4 x 4: its maximum sits on a "
                          "cell centre, the peak centroid does not; max is the paper's",
    "world_models.clip.logit_scale": "the world CLIP trains at OpenAI CLIP's final logit "
                                     "scale; null (learned) is open_clip's",
    "concept_sets": "the world's sets of three sizes, as the papers' Table 1; the schema's "
                    "default is the world set alone",
    "stability.concept_sets": "the stability study on the world set (the WordNet-sized sets "
                              "would take minutes); null = every set",
}


def _resolve(schema: dict, root: dict) -> dict:
    """``schema`` with a local ``$ref`` (``#/$defs/name``) merged in."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def _subschemas(schema: dict, root: dict, path: str) -> Iterator[tuple[str, dict]]:
    """(dotted path, schema) of every property under ``schema``, recursively: named
    properties, and ``*`` for the entries of mappings (``additionalProperties`` schemas)."""
    schema = _resolve(schema, root)
    for name, sub in (schema.get("properties") or {}).items():
        key = f"{path}.{name}" if path else name
        yield key, sub
        yield from _subschemas(sub, root, key)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _subschemas(extra, root, f"{path}.*" if path else "*")


def _stated_defaults(value: dict, schema: dict, root: dict, path: str = ""
                     ) -> Iterator[tuple[str, object, object]]:
    """(key, stated value, schema default) of every key of ``value`` whose schema has a
    default; ``{}`` defaults (placeholders that let the nested defaults fill) are skipped
    and their keys compared one by one."""
    schema = _resolve(schema, root)
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for name, given in value.items():
        key = f"{path}.{name}" if path else name
        sub = properties.get(name, extra if isinstance(extra, dict) else None)
        if sub is None:
            continue
        sub = _resolve(sub, root)
        if "default" in sub and sub["default"] != {}:
            yield key, given, sub["default"]
        if isinstance(given, dict):
            yield from _stated_defaults(given, sub, root, key)


def test_config_yaml_states_the_schema_defaults():
    schema = config_schema()
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    stated = list(_stated_defaults(config, schema, schema))
    assert len(stated) > 50  # the walk reaches the nested sections
    differ = {key: (given, default) for key, given, default in stated if given != default}
    unexplained = {k: v for k, v in differ.items() if k not in DEMO_OVERRIDES}
    assert not unexplained, f"config.yaml (value, schema default) disagree: {unexplained}"
    stale = set(DEMO_OVERRIDES) - set(differ)
    assert not stale, f"listed as demo overrides but equal to the schema default: {stale}"


def test_every_schema_key_has_a_description():
    schema = config_schema()
    keys = list(_subschemas(schema, schema, ""))
    for name, definition in schema["$defs"].items():
        keys += _subschemas(definition, schema, f"$defs.{name}")
    assert len(keys) > 120  # the walk reaches nested sections, mappings and $defs
    missing = [key for key, sub in keys if not str(sub.get("description", "")).strip()]
    assert not missing, f"schema keys without a description: {missing}"


def test_default_config_is_config_yaml_with_the_defaults_filled():
    config = default_config()
    stated = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["run"] == stated["run"] == "world"
    assert config["methods"].keys() == stated["methods"].keys()
    assert config["target"] == {"source": "world", "name": None, "weights": None,
                                "architecture": "torchvision", "path": None, "input_size": None,
                                "tokens": "mean", "class_names": None}  # not in config.yaml: schema defaults
    assert config["report"]["published_stability"] == {}
    config["world"]["probe_images"] = 1  # each call returns a copy
    assert default_config()["world"]["probe_images"] == 2000


def test_default_config_needs_no_torch_nor_the_current_folder(tmp_path):
    code = ("import sys, conceptlens.config as c; c.default_config(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
