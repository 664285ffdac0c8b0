"""Loading and checking workflow configurations beyond what the JSON schema can say."""

from __future__ import annotations

import copy
import difflib
import functools
import os
import reprlib
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml

from conceptlens.errors import InputError
from conceptlens.shipped import resolve_shipped_dir, shipped_path, workflow_dir

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"
# The workflow folder: config.yaml, configs/ and the Snakefile, in a source checkout or in
# the installed package (conceptlens.shipped).
WORKFLOW_DIR = workflow_dir()


class ConfigError(InputError, ValueError):
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
        from conceptlens.models.torchvision_weights import TargetSpecError, torchvision_weights

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
    if source != "world" and probe.get("source", "world") == "world":
        raise ConfigError("config keys target.source and probe.source: the world probe set "
                          "goes with the world target (its planted ground truth is the world "
                          f"target's); give a real model real images (got target {source!r}, "
                          "probe 'world')")


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
        shipped = Path(resolve_shipped_dir(models.get("shipped_dir")))
        missing = [str(shipped / f) for f in ("target.pt", "clip.pt") if not (shipped / f).is_file()]
        if missing:
            raise ConfigError(
                f"config key world_models.shipped_dir: missing checkpoint(s) {', '.join(missing)}; "
                "set world_models.source: train to train them from scratch")
    from conceptlens.methods import method_settings

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
    check_tuning(config, methods)


def planted_ground_truth(config: Mapping) -> bool:
    """Whether the run has the world's planted ground truth: the world target on the world
    probe set (what a tuning split needs)."""
    return ((config.get("target") or {}).get("source", "world") == "world"
            and (config.get("probe") or {}).get("source", "world") == "world")


def inherited_tuned_methods(methods: Mapping[str, Mapping]) -> list[str]:
    """The ``kappa: tuned`` methods whose settings are config.yaml's own (an overlay of
    config.yaml for another model inherits them unchanged)."""
    from conceptlens.methods import method_settings
    from conceptlens.tuning import tuned_methods

    defaults = method_settings(_default_config())
    return [name for name in tuned_methods(methods) if defaults.get(name) == methods[name]]


def untuned_off_world(config: Mapping, methods: Mapping[str, Mapping]
                      ) -> tuple[dict[str, dict], list[str]]:
    """``methods`` for a run without planted ground truth: the ``kappa: tuned`` methods
    inherited from config.yaml get the paper's kappa, one note each (a run on the world
    keeps them as they are; :func:`check_tuning` rejects a tuned kappa written for another
    model)."""
    from conceptlens.methods import PAPER_KAPPA

    if planted_ground_truth(config):
        return dict(methods), []
    fitted, notes = dict(methods), []
    for name in inherited_tuned_methods(methods):
        fitted[name] = {**methods[name], "kappa": PAPER_KAPPA}
        notes.append(f"methods.{name}.kappa = tuned (config.yaml's) is chosen on the world's "
                     f"tuning split, which this run has not: the paper's {PAPER_KAPPA:g}")
    return fitted, notes


def check_tuning(config: dict, methods: dict[str, dict]) -> None:
    """The tuning split never draws the probe's images; ``kappa: tuned`` needs the world's
    planted ground truth; the sweep's concept set exists."""
    from conceptlens.methods import TUNED
    from conceptlens.tuning import tuned_methods

    world = config.get("world") or {}
    inherited = inherited_tuned_methods(methods)
    tuned = [name for name in tuned_methods(methods) if name not in inherited]
    if tuned and not planted_ground_truth(config):
        raise ConfigError(f"config key methods.{tuned[0]}.kappa: {TUNED!r} is chosen on the "
                          "world's tuning split by its planted ground truth, which a run on "
                          "another target or probe set has not; give a number (the paper's 1)")
    seed = world.get("probe_seed")
    if seed is not None and world.get("tuning_seed") == seed:
        raise ConfigError(f"config keys world.tuning_seed and world.probe_seed: both {seed}, "
                          "so the tuning split would draw the probe's own images; give the "
                          "tuning split a seed of its own")
    concept_set = (config.get("tuning") or {}).get("concept_set")
    if tuned and concept_set is not None:
        _check_names("tuning.concept_set", [concept_set], list(config.get("concept_sets") or {}),
                     "a key of concept_sets")


#: valid names an error lists in full; longer lists (a ViT's modules) show close matches
MAX_LISTED_NAMES = 12


def _check_names(key: str, given: list[str] | None, valid, what: str) -> None:
    import difflib

    valid = list(valid)
    unknown = [name for name in given or [] if name not in valid]
    if unknown:
        if len(valid) <= MAX_LISTED_NAMES:
            listed = ", ".join(valid)
        else:
            close = dict.fromkeys(m for name in unknown
                                  for m in difflib.get_close_matches(name, valid, n=4))
            listed = (f"{len(valid)} valid; close: {', '.join(close)}" if close
                      else f"{len(valid)} valid, e.g. {', '.join(valid[:MAX_LISTED_NAMES])}")
        raise ConfigError(f"config key {key}: {', '.join(map(repr, unknown))} not {what} "
                          f"({listed})")


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


def fit_stability_to_probe(stability: Mapping, n_images: int) -> tuple[dict, list[str]]:
    """The ``stability`` settings fitted to a probe set of ``n_images``, as the methods'
    are (:func:`conceptlens.methods.fit_to_probe`): ``ks`` larger than the set are lowered
    to it (repeats dropped, so the table's "k=a->b" columns say what was compared) and the
    sub-samples' ``k`` to the images a sub-sample holds; one sentence per change."""
    fitted, notes = copy.deepcopy(dict(stability)), []
    ks = list(fitted.get("ks") or [])
    lowered = list(dict.fromkeys(min(int(k), n_images) for k in ks))
    if lowered != ks:
        fitted["ks"] = lowered
        notes.append(f"stability.ks = {ks} has values more than the {n_images} probe "
                     f"images: lowered to {lowered}")
    subsample = dict(fitted.get("subsample") or {})
    if "k" in subsample and "fraction" in subsample:
        size = max(1, round(n_images * float(subsample["fraction"])))
        if int(subsample["k"]) > size:
            notes.append(f"stability.subsample.k = {subsample['k']} is more than the {size} "
                         f"images of a sub-sample: lowered to {size}")
            fitted["subsample"] = {**subsample, "k": size}
    return fitted, notes


DEFAULT_GRID_METHODS = {"WWW": "www", "Grad-CAM + t-vMF": "gradcam_tvmf",
                        "CLIP-Dissect": "soft_wpmi"}


def report_method(config: dict, methods: dict[str, dict]) -> str | None:
    """The method that picks and labels the report's neurons (None without methods)."""
    chosen = (config.get("report") or {}).get("method")
    if chosen is not None:
        return chosen
    return "gradcam_tvmf" if "gradcam_tvmf" in methods else next(iter(methods), None)


#: how a CLIP-Dissect similarity function is named in a column title
FUNCTION_TITLES = {"soft_wpmi": "soft-WPMI", "wpmi": "WPMI", "cos": "cos",
                   "cos_cubed": "cos³", "rank_reorder": "rank-reorder"}


def report_grid_methods(config: dict, methods: dict[str, dict]) -> dict[str, str]:
    """Column title -> method of the neuron grids: the configured mapping, else the
    papers' three methods that are configured, a CLIP-Dissect column titled with its
    similarity function ("CLIP-Dissect (soft-WPMI)")."""
    given = (config.get("report") or {}).get("grid_methods")
    if given is not None:
        return dict(given)
    out = {}
    for title, method in DEFAULT_GRID_METHODS.items():
        if method not in methods:
            continue
        function = methods[method].get("function")
        if methods[method].get("family") == "clip_dissect" and function:
            title = f"{title} ({FUNCTION_TITLES.get(function, function)})"
        out[title] = method
    return out


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
    A config without ``base`` (the default, or a preset) is complete as it is.  A concept
    set set to ``false`` is then left out (an overlay's way to drop a base's set)."""
    seen: list[Path] = []
    while config.get("base") is not None:
        path = Path(config.pop("base"))
        path = path if path.is_absolute() else Path(basedir) / path
        if path in seen or not path.is_file():
            raise ConfigError(f"config key base: {str(path)!r} "
                              + ("is named twice" if path in seen else "does not exist"))
        seen.append(path)
        base = read_config_file(path)
        merged = deep_merge(base, config)
        config.clear()
        config.update(merged)
    config.pop("base", None)
    # `concept_sets.<name>: false` leaves out a set that a base config names
    sets = config.get("concept_sets")
    if isinstance(sets, dict):
        for name in [n for n, value in sets.items() if value is False]:
            del sets[name]


def read_config_file(path: str | os.PathLike) -> dict:
    """The mapping of config keys in the YAML (or JSON) file ``path`` ({} when empty).

    Raises :class:`ConfigError` naming the file, and for a syntax error its line and
    column, when the file cannot be read, is not YAML or holds no mapping."""
    shown = _display_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {shown}: cannot be read "
                          f"({getattr(err, 'strerror', None) or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark, start = err.problem_mark or err.context_mark, err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(filter(None, [err.context, err.problem]))
        if start is not None and mark is not None and start.line != mark.line:
            what += f", started at line {start.line + 1}, column {start.column + 1}"
        raise ConfigError(f"config file {shown}{where}: not valid YAML ({what}); "
                          "indent with spaces, not tabs, and close every bracket and "
                          "quote") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {shown}: not valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {shown}: holds {type(data).__name__} "
                          f"{_SHORT.repr(data)}, not a mapping of config keys (key: value)")
    return data


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config, fill schema defaults, validate it, and run :func:`check_config`."""
    path = Path(path)
    config = read_config_file(path)
    source = config_sources([path])
    apply_base(config, WORKFLOW_DIR)
    validate_config(config, source)
    check_config(config)
    return config


@functools.cache
def _default_config() -> dict:
    """config.yaml validated and filled (shared: :func:`default_config` copies it)."""
    config = read_config_file(shipped_path("config.yaml"))
    apply_base(config, WORKFLOW_DIR)
    validate_config(config, "config.yaml")
    return config


def default_config() -> dict:
    """The workflow's config.yaml, schema-validated, with the schema defaults filled (a new
    copy each call; read once), from the checkout or the installed package
    (:func:`conceptlens.shipped.shipped_path`). :func:`check_config` is not run: it needs
    the shipped checkpoints."""
    return copy.deepcopy(_default_config())


@functools.cache
def config_schema() -> dict:
    """The parsed config schema (shared: do not change it)."""
    with open(SCHEMA_PATH) as f:
        return yaml.safe_load(f)


@functools.cache
def _defaults_validator() -> type:
    """Draft 2020-12 validator class that fills each missing property's ``default`` (a copy)
    before validating it, as ``snakemake.utils.validate`` does."""
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})


def validate_config(config: dict, source: str = "") -> None:
    """Fill the schema defaults into ``config`` (in place) and validate it against the schema.

    Raises :class:`ConfigError` with a few lines naming each bad key's path, what it allows
    and ``source`` (the config files the values came from).
    """
    errors = list(_defaults_validator()(config_schema()).iter_errors(config))
    if errors:
        raise ConfigError(schema_error_message(errors, source))


def config_sources(files: Iterable[str | os.PathLike], overrides: Mapping | None = None,
                   basedir: str | os.PathLike = WORKFLOW_DIR) -> str:
    """Where a config came from, for error messages: each file (relative to the current
    folder when inside it) with the ``base:`` files it overlays, then the command-line
    ``--config`` keys, e.g. ``configs/tiny-world.yaml (base config.yaml), command-line
    --config thread``."""
    parts = []
    for file in files:
        text, path = _display_path(file), Path(file)
        for _ in range(10):  # follow base: chains (apply_base reports cycles)
            try:
                base = (yaml.safe_load(path.read_text()) or {}).get("base")
            except (OSError, yaml.YAMLError, AttributeError):
                break
            if base is None:
                break
            path = Path(base) if Path(base).is_absolute() else Path(basedir) / base
            text += f" (base {_display_path(path)})"
        parts.append(text)
    if overrides:
        parts.append(f"command-line --config {' '.join(map(str, overrides))}")
    return ", ".join(parts)


def _display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the current folder when it lies inside it, else as given."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxdict, _SHORT.maxlist = 40, 40, 4, 6
_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "null"}
_CONSTRAINTS = {"minimum": "is less than the minimum {}",
                "maximum": "is more than the maximum {}",
                "exclusiveMinimum": "must be more than {}",
                "exclusiveMaximum": "must be less than {}",
                "multipleOf": "is not a multiple of {}",
                "pattern": "does not match the pattern {!r}",
                "minItems": "has fewer than {} item(s)",
                "maxItems": "has more than {} item(s)"}


#: ``$comment`` of the schema's ``$defs/name``: keys and values that become paths
PATH_NAME = "path-name"


def key_path(path: Iterable[str | int], key: str | None = None) -> str:
    """Dotted config key of a jsonschema path, list indices in brackets: ``layers[0]``,
    ``world.probe_images``; ``key`` is appended ("" for the top level)."""
    text = ""
    for part in [*path, *([] if key is None else [key])]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def error_lines(error) -> list[str]:
    """A jsonschema ``ValidationError`` as message lines: the key's path and what is wrong
    (unknown key with a close match and the valid keys, allowed values, the constraint)."""
    path, value = list(error.absolute_path), error.validator_value
    where = key_path(path) or "(the top level)"
    shown = _SHORT.repr(error.instance)
    if error.validator == "additionalProperties" and value is False:
        valid = list(error.schema.get("properties", {}))
        lines = []
        for extra in (k for k in error.instance if k not in valid):
            close = difflib.get_close_matches(str(extra), valid, n=1)
            lines.append(f"config key {key_path(path, str(extra))}: unknown key"
                         + (f"; did you mean {close[0]}?" if close else ""))
        title = f"valid keys of {key_path(path)}" if path else "valid keys"
        return lines + textwrap.wrap(f"{title}: {', '.join(sorted(valid))}", 96,
                                     initial_indent="  ", subsequent_indent="    ")
    if error.validator == "required":
        return [f"config key {key_path(path, k)} is required" for k in value
                if k not in error.instance]
    if error.validator == "enum":
        return [f"config key {where}: {shown} is not one of the allowed values: "
                f"{', '.join(map(str, value))}"]
    if error.validator == "type":
        types = [value] if isinstance(value, str) else list(value)
        return [f"config key {where}: {shown} is not "
                f"{' or '.join(_TYPE_NAMES.get(t, t) for t in types)}"]
    if error.validator == "pattern" and error.schema.get("$comment") == PATH_NAME:
        return [f"config key {where}: the name {shown} cannot be a "
                "folder or file name under results/ (start with a letter or digit, then "
                "use letters, digits, '_', '.', '-')"]
    if error.validator == "anyOf" and all("const" in sub or "type" in sub for sub in value):
        allowed = [repr(sub["const"]) if "const" in sub else
                   _TYPE_NAMES.get(sub["type"], sub["type"])
                   + (f" >= {sub['minimum']}" if "minimum" in sub else "") for sub in value]
        return [f"config key {where}: {shown} is not {' or '.join(allowed)}"]
    if error.validator in _CONSTRAINTS:
        return [f"config key {where}: {shown} {_CONSTRAINTS[error.validator].format(value)}"]
    return [f"config key {where}: {textwrap.shorten(error.message, 160)}"]


def schema_error_message(errors: Sequence, source: str, limit: int = 5) -> str:
    """A few lines for jsonschema errors: the best match (jsonschema's ``best_match``)
    first, then the others by key, at most ``limit`` of them, headed by ``source``
    (where the config came from, e.g. :func:`config_sources`)."""
    from jsonschema.exceptions import best_match

    best = best_match(errors)
    ordered = [best, *sorted((e for e in errors if e is not best),
                             key=lambda e: [str(p) for p in e.absolute_path])]
    lines = [f"invalid config in {source}:" if source else "invalid config:"]
    for error in ordered[:limit]:
        lines += [f"  {line}" for line in error_lines(error) if f"  {line}" not in lines]
    if len(ordered) > limit:
        lines.append(f"  ... and {len(ordered) - limit} more error(s)")
    return "\n".join(lines)
