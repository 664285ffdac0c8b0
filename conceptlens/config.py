"""Loading and checking workflow configurations beyond what the JSON schema can say."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the value."""


def world_target_layers() -> list[str]:
    """Module names of the world target that can be described (conv blocks and fc)."""
    return target_layers({"source": "world"})


def target_layers(target: dict) -> list[str]:
    """Module names of the configured target's architecture (built without weights; the
    world target's are listed, so that a world config is checked without torch)."""
    if target.get("source", "world") == "world":
        from conceptlens.models.world_layers import WORLD_TARGET_LAYERS

        return list(WORLD_TARGET_LAYERS)
    from conceptlens.models.zoo import TargetSpecError, build_architecture, layer_names

    try:
        return layer_names(build_architecture(target))
    except TargetSpecError as err:
        raise ConfigError(str(err)) from None


# target.class_names value: class i = the WordNet lemmas of the probe set's i-th wnid.
WNID_CLASS_NAMES = "wnids"


def _check_target(config: dict) -> None:
    """Target name and weights enum exist; class names come from a concept set."""
    target = config.get("target") or {}
    source = target.get("source", "world")
    if source in ("torchvision", "checkpoint") and not target.get("name"):
        raise ConfigError(f"config key target.name is required for target.source {source!r}")
    if source == "torchvision":
        # torch and torchvision only for a torchvision target: every workflow parse runs this
        from conceptlens.models.zoo import TargetSpecError, torchvision_weights

        try:
            torchvision_weights(target["name"], target.get("weights"))
        except TargetSpecError as err:
            raise ConfigError(str(err)) from None
    if source == "checkpoint" and not target.get("path"):
        raise ConfigError("config key target.path is required for target.source 'checkpoint'")
    names = target.get("class_names")
    probe = config.get("probe") or {}
    if names == WNID_CLASS_NAMES:
        if probe.get("source", "world") != "imagenet":
            raise ConfigError(f"config key target.class_names: {WNID_CLASS_NAMES!r} reads the "
                              "probe set's wnids, so it needs probe.source: imagenet (got "
                              f"{probe.get('source', 'world')!r})")
    elif names is not None and names not in (config.get("concept_sets") or {}):
        raise ConfigError(f"config key target.class_names: {names!r} is neither "
                          f"{WNID_CLASS_NAMES!r} nor a key of concept_sets "
                          f"({', '.join(config.get('concept_sets') or {})})")
    if probe.get("source", "world") != "world" and not probe.get("path"):
        raise ConfigError(f"config key probe.path is required for probe.source "
                          f"{probe.get('source')!r}")
    if (source == "world") != (probe.get("source", "world") == "world"):
        raise ConfigError("config keys target.source and probe.source: the world target "
                          "goes with the world probe set, and real models with real images "
                          f"(got target {source!r}, probe {probe.get('source', 'world')!r})")


METHOD_DEFAULTS: dict[str, dict] = {
    "www": {"clip_model": "world", "k": 40, "alpha": 0.95, "kappa": 1.0},
    "clip_dissect": {"clip_model": "world"},
}
CLIP_DISSECT_TOP_K = {"soft_wpmi": 100, "wpmi": 28}
FAMILY_KEYS = {
    "www": {"family", "view", "clip_model", "template", "similarity", "kappa", "k", "alpha"},
    "clip_dissect": {"family", "view", "clip_model", "template", "function", "top_k"},
}


def method_settings(config: dict) -> dict[str, dict]:
    """Every configured method with its family's defaults filled in.

    Raises :class:`ConfigError` for a key that does not belong to the method's family or a
    missing required key.
    """
    methods = {}
    for name, given in (config.get("methods") or {}).items():
        family = given["family"]
        extra = set(given) - FAMILY_KEYS[family]
        if extra:
            raise ConfigError(f"config key methods.{name}: {', '.join(sorted(extra))} not valid "
                              f"for family {family!r} (valid: {', '.join(sorted(FAMILY_KEYS[family]))})")
        settings = {**METHOD_DEFAULTS[family], **given}
        if family == "www" and "similarity" not in given:
            raise ConfigError(f"config key methods.{name}.similarity is required (cosine or tvmf)")
        if family == "clip_dissect":
            if "function" not in given:
                raise ConfigError(f"config key methods.{name}.function is required")
            if settings["function"] in CLIP_DISSECT_TOP_K:
                settings.setdefault("top_k", CLIP_DISSECT_TOP_K[settings["function"]])
        methods[name] = settings
    return methods


def check_config(config: dict) -> None:
    """Checks the schema cannot express; raises :class:`ConfigError` naming the key."""
    _check_target(config)
    target = config.get("target") or {"source": "world"}
    valid_layers = target_layers(target)
    what = "the world target" if target.get("source", "world") == "world" else target["name"]
    for key, layers in (("layers", config.get("layers", [])),
                        ("views.gradcam_layer", [(config.get("views") or {}).get("gradcam_layer",
                                                                                "layer4")])):
        unknown = [layer for layer in layers if layer not in valid_layers]
        if unknown:
            top = [n for n in valid_layers if "." not in n]
            raise ConfigError(
                f"config key {key}: unknown layer(s) {', '.join(map(repr, unknown))} of {what}; "
                f"valid names include: {', '.join(top)} (and submodules such as "
                f"{next((n for n in valid_layers if '.' in n), top[-1])})")
    models = config.get("world_models", {})
    if target.get("source", "world") == "world" and models.get("source", "shipped") == "shipped":
        shipped = Path(models.get("shipped_dir", "resources/world"))
        missing = [str(shipped / f) for f in ("target.pt", "clip.pt") if not (shipped / f).is_file()]
        if missing:
            raise ConfigError(
                f"config key world_models.shipped_dir: missing checkpoint(s) {', '.join(missing)}; "
                "set world_models.source: train to train them from scratch")
    methods = method_settings(config)
    clip_models = config.get("clip_models", {})
    templates = config.get("templates", {})
    for name, m in methods.items():
        if m["clip_model"] not in clip_models:
            raise ConfigError(f"config key methods.{name}.clip_model: {m['clip_model']!r} is not "
                              f"a key of clip_models ({', '.join(clip_models)})")
        if m["template"] not in templates:
            raise ConfigError(f"config key methods.{name}.template: {m['template']!r} is not a "
                              f"key of templates ({', '.join(templates)})")
    for role, name in (config.get("ablation") or {}).items():
        if name not in methods:
            raise ConfigError(f"config key ablation.{role}: {name!r} is not a configured method "
                              f"({', '.join(methods)})")
    for key in ("metrics", "stability", "convis"):
        clip = (config.get(key) or {}).get("clip_model", "world")
        if clip not in clip_models:
            raise ConfigError(f"config key {key}.clip_model: {clip!r} is not a key of "
                              f"clip_models ({', '.join(clip_models)})")
    _check_analyses(config, valid_layers, methods)


def _check_names(key: str, given: list[str] | None, valid, what: str) -> None:
    unknown = [name for name in given or [] if name not in valid]
    if unknown:
        raise ConfigError(f"config key {key}: {', '.join(map(repr, unknown))} not {what} "
                          f"({', '.join(valid)})")


def _check_concept_sets(config: dict) -> None:
    """``null`` concept sets must be ones the workflow builds; ``downloads`` is no run name
    (results/downloads holds the concept-set downloads that runs share)."""
    from conceptlens.concept_sets import BUILTIN_NAMES

    for name, path in (config.get("concept_sets") or {}).items():
        if path is None and name not in BUILTIN_NAMES:
            raise ConfigError(f"config key concept_sets.{name}: null names a set the workflow "
                              f"builds ({', '.join(BUILTIN_NAMES)}); give a local file for "
                              f"{name!r}")
    if config.get("run") == "downloads":
        raise ConfigError("config key run: 'downloads' is reserved (results/downloads holds "
                          "the shared concept-set downloads)")


def _check_analyses(config: dict, valid_layers: list[str], methods: dict[str, dict]) -> None:
    """Names used by the stability, ConVis and report sections must exist."""
    _check_concept_sets(config)
    concept_sets = list(config.get("concept_sets") or {})
    layers = config.get("layers", [])
    stability = config.get("stability") or {}
    _check_names("stability.concept_sets", stability.get("concept_sets"), concept_sets,
                 "a key of concept_sets")
    _check_names("stability.layers", stability.get("layers"), valid_layers,
                 "a layer of the target")
    _check_names("stability.template", [stability.get("template", "bare")],
                 list(config.get("templates") or {}), "a key of templates")
    report = config.get("report") or {}
    if report.get("concept_set") is not None:
        _check_names("report.concept_set", [report["concept_set"]], concept_sets,
                     "a key of concept_sets")
    _check_names("report.layers", report.get("layers"), layers, "a described layer (`layers`)")
    if report.get("method") is not None:
        _check_names("report.method", [report["method"]], list(methods), "a configured method")
    _check_names("report.grid_methods", list((report.get("grid_methods") or {}).values()),
                 list(methods), "a configured method")


DEFAULT_GRID_METHODS = {"WWW": "www", "Grad-CAM + t-vMF": "gradcam_tvmf",
                        "CLIP-Dissect": "soft_wpmi"}


def report_method(config: dict, methods: dict[str, dict]) -> str | None:
    """The method that picks and labels the report's neurons (None without methods)."""
    chosen = (config.get("report") or {}).get("method")
    if chosen is not None:
        return chosen
    return "gradcam_tvmf" if "gradcam_tvmf" in methods else next(iter(methods), None)


def report_grid_methods(config: dict, methods: dict[str, dict]) -> dict[str, str]:
    """Column title -> method of the neuron grids: the configured mapping, else the
    papers' three methods that are configured."""
    given = (config.get("report") or {}).get("grid_methods")
    if given is not None:
        return dict(given)
    return {title: m for title, m in DEFAULT_GRID_METHODS.items() if m in methods}


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` updated by ``override``, recursively for nested mappings (a new dict)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_base(config: dict, basedir: str | os.PathLike) -> None:
    """Resolve ``base:`` in place: an overlay config (``base: config.yaml``) is merged over
    the named file (relative to the workflow folder), which may name a base of its own.
    A config without ``base`` (the default, or a preset) is complete as it is."""
    seen: list[Path] = []
    while config.get("base") is not None:
        path = Path(config.pop("base"))
        path = path if path.is_absolute() else Path(basedir) / path
        if path in seen or not path.is_file():
            raise ConfigError(f"config key base: {str(path)!r} "
                              + ("is named twice" if path in seen else "does not exist"))
        seen.append(path)
        with open(path) as f:
            base = yaml.safe_load(f) or {}
        merged = deep_merge(base, config)
        config.clear()
        config.update(merged)
    config.pop("base", None)


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config, fill schema defaults, validate it, and run :func:`check_config`."""
    from snakemake.utils import validate

    path = Path(path)
    with open(path) as f:
        config = yaml.safe_load(f) or {}
    apply_base(config, Path(__file__).parents[1])
    try:
        validate(config, str(SCHEMA_PATH))
    except Exception as err:
        raise ConfigError(f"{path}: {err}") from err
    check_config(config)
    return config
