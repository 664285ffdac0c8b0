"""One-off concept descriptions of an image folder, without a config: ``conceptlens describe``.

:func:`describe_folder` composes the workflow's own stage functions in memory, with the
same settings: index the folder (:mod:`conceptlens.probes`), the target's pass
(:func:`conceptlens.stages.target_pass.target_pass`: the method's view, Grad-CAM window,
activations and top-k sets), CLIP embeddings of images and concepts
(:mod:`conceptlens.stages.clip`), and the describe stage's scoring and selection
(:func:`conceptlens.stages.describe.describe_layer`).  Activations and embeddings are
float16, as the workflow stores them, so the descriptions equal the workflow's on the
same images and settings (a slow test checks it).  Nothing is cached and everything is
held in memory, so it suits folders of up to a few thousand images; use the workflow for
more, or for metrics and reports.

Defaults are the workflow's, read from its ``config.yaml`` through
:func:`conceptlens.config.default_config` (methods, templates, centre crop, Grad-CAM
layer and target, precision): the shipped world target (``resources/world/target.pt``),
its ``fc`` layer and the shipped world CLIP (``resources/world/clip.pt``), found in the
checkout or the installed package (:func:`conceptlens.shipped.shipped_path`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conceptlens.config import default_config
from conceptlens.errors import InputError
from conceptlens.shipped import WORLD_MODELS_DIR, shipped_path

if TYPE_CHECKING:  # numpy, torch, pandas load in the functions: `--help` stays fast
    import numpy as np
    import pandas as pd

WORLD = "world"
#: the default concept set of a target that is not a world model: WordNet 3.0's nouns
#: (:func:`conceptlens.concept_sets.wordnet_nouns`, from Debian's wordnet-base or NLTK's data)
WORDNET = "wordnet"
#: the ``top_images`` listed per neuron by a method without a top-k set (CLIP-Dissect)
TOP_IMAGES = 10
WORLD_INPUT_SIZE = 64
#: ImageNet-style targets crop 224 of 256 (0.875)
REAL_CENTER_FRACTION = 0.875


_DEFAULTS = default_config()
#: the default config's named methods (family, view, similarity / function, k, alpha ...)
METHODS: dict[str, dict] = {name: {k: v for k, v in m.items() if k not in ("template",
                                                                          "clip_model")}
                            for name, m in _DEFAULTS["methods"].items()}
#: prompt template of each method (the default config's)
TEMPLATES: dict[str, str] = {name: _DEFAULTS["templates"][m["template"]]
                             for name, m in _DEFAULTS["methods"].items()}
WORLD_CENTER_FRACTION: float = _DEFAULTS["views"]["center_fraction"]
#: the default config's views (Grad-CAM layer, window, target) and precision
GRADCAM_LAYER: str = _DEFAULTS["views"]["gradcam_layer"]
GRADCAM_TARGET: str = _DEFAULTS["views"]["gradcam_target"]
#: the Grad-CAM window of the world target (config.yaml's) and of any other (the schema's
#: defaults: the centre crop's side, around the map's maximum)
WORLD_GRADCAM_WINDOW: tuple[float | None, str] = (_DEFAULTS["views"]["gradcam_fraction"],
                                                  _DEFAULTS["views"]["gradcam_peak"])
REAL_GRADCAM_WINDOW: tuple[float | None, str] = (None, "max")


def gradcam_window(source: str, fraction: float | None = None, peak: str | None = None
                   ) -> tuple[float | None, str]:
    """(window side fraction or None = the centre crop's, peak rule) of a target of
    ``source``: the given values, else the world's or any other target's defaults."""
    default = WORLD_GRADCAM_WINDOW if source == "world" else REAL_GRADCAM_WINDOW
    return (default[0] if fraction is None else fraction,
            default[1] if peak is None else peak)
PRECISION: str = _DEFAULTS["precision"]
REDUCTION: str = _DEFAULTS["ground_truth"]["reduction"]
#: how a token output (ViT blocks, Swin stages) becomes one value per channel
TOKENS: str = _DEFAULTS["target"]["tokens"]
#: WWW's default k is at most this fraction of the images (k = 40 of 2,000 in the demo)
DEFAULT_K_FRACTION = 0.05
#: fewer images than this are a warning: WWW's default top-k set (5% of them) would hold
#: under 5 images, too few to tell one concept from another
FEW_IMAGES = 100
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")
#: config keys named in library messages -> the ``describe`` options that set them
OPTION_OF_KEY = {
    "target.source: checkpoint and target.path": "--target FILE (with --arch NAME)",
    "clip_models.world.pretrained": "--pretrained",
    "target.path": "--target",
    "target.name": "--target",
    "target.weights": "--weights",
    "probe.path": "IMAGE_FOLDER",
    "--layer": "--layer",
    "--gradcam-layer": "--gradcam-layer",
    "target.tokens": "--tokens",
}


class DescribeError(InputError, ValueError):
    """An argument of a one-off run is invalid; the message names it."""


def option_message(err: BaseException | str) -> str:
    """A library error message with the config keys it names replaced by the options."""
    text = str(err).replace("under the keys named above", "with the options named above")
    for key, option in OPTION_OF_KEY.items():
        text = (text.replace(f"config key {key}", option).replace(f"set {key}", f"set {option}")
                .replace(f"point {key} ", f"point {option} "))
    return text


def option_of_key(key: str) -> str:
    """The option that sets a config key (a :class:`conceptlens.offline.Missing` key)."""
    return next((option + key[len(k):] for k, option in OPTION_OF_KEY.items()
                 if key.startswith(k)), key)


# ------------------------------------------------------------------------ arguments


def parse_units(given: str | int | Sequence[str | int] | None) -> np.ndarray | None:
    """Unit ids from ints or strings such as ``"0-9,12"`` -> sorted unique (n,) int64."""
    import numpy as np

    if given is None:
        return None
    if isinstance(given, (str, int)):
        given = [given]
    units: list[int] = []
    for part in (p for g in given for p in str(g).split(",") if p.strip()):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise DescribeError(f"--units: {part!r} is not a unit id or a range such as 0-9")
        lo, hi = int(match[1]), int(match[2] or match[1])
        if hi < lo:
            raise DescribeError(f"--units: empty range {part!r}")
        units += range(lo, hi + 1)
    if not units:
        raise DescribeError("--units: no unit ids given")
    return np.unique(np.asarray(units, dtype=np.int64))


def default_concepts(spec: Mapping) -> str:
    """``describe``'s concept set when none is given: the world vocabulary for the world
    target or a world checkpoint (one without ``--arch``), else the WordNet nouns."""
    world = spec["source"] == "world" or (spec["source"] == "checkpoint" and not spec["name"])
    return WORLD if world else WORDNET


def load_concepts(concepts: str | os.PathLike | Sequence[str]) -> list[str]:
    """A concept list: given as one, read from a one-per-line file, or ``"world"`` (the
    world vocabulary) or ``"wordnet"`` (WordNet 3.0's 67,893 noun names), when no file of
    that name exists."""
    from conceptlens.io.concepts import read_concept_set

    if not isinstance(concepts, (str, os.PathLike)):
        concepts = [str(c) for c in concepts]
        if not concepts or len(set(concepts)) != len(concepts):
            raise DescribeError("concepts: the list is empty or has duplicates")
        return concepts
    path = Path(concepts)
    if path.is_file():
        return read_concept_set(path)
    if str(concepts) == WORLD:
        from conceptlens.world.vocabulary import world_concepts

        return world_concepts()
    if str(concepts) == WORDNET:
        from conceptlens.concept_sets import ConceptSetError, wordnet_nouns

        try:
            return wordnet_nouns()
        except ConceptSetError as err:
            raise DescribeError(f"--concepts wordnet: {err}") from None
    raise DescribeError(f"--concepts: concept file {str(path)!r} not found (one concept a line, "
                        "or 'world' for the world vocabulary, 'wordnet' for WordNet's nouns)")


def target_spec(target: str = WORLD, weights: str | None = None, arch: str | None = None,
                input_size: int | None = None) -> dict:
    """A :func:`conceptlens.models.zoo.load_target` spec from ``describe``'s options.

    ``target``: ``world`` (the shipped world target), ``timm:NAME``, a checkpoint file
    (with ``arch``, its torchvision architecture; without, a world checkpoint), or a
    torchvision model name.  ``weights``: torchvision enum member (default ``DEFAULT``) or
    timm tag; ``none`` = random initialisation.
    """
    random = weights is not None and weights.lower() == "none"
    if target == WORLD or _is_checkpoint(target):
        if weights is not None:
            raise DescribeError(f"--weights applies to torchvision and timm targets, not to "
                                f"--target {target} (a checkpoint holds its own weights)")
        if target == WORLD:
            return {"source": "world", "path": str(shipped_path(f"{WORLD_MODELS_DIR}/target.pt")),
                    "input_size": input_size or WORLD_INPUT_SIZE}
        size = input_size or (224 if arch else WORLD_INPUT_SIZE)
        return {"source": "checkpoint", "name": arch, "path": target, "input_size": size}
    if arch is not None:
        raise DescribeError(f"--arch applies to a checkpoint --target, not to {target!r}")
    source, name = ("timm", target.removeprefix("timm:")) if target.startswith("timm:") else (
        "torchvision", target)
    default = None if source == "timm" else "DEFAULT"
    return {"source": source, "name": name,
            "weights": None if random else (weights or default), "input_size": input_size or 224}


def _is_checkpoint(target: str) -> bool:
    return (os.sep in target or target.lower().endswith(CHECKPOINT_SUFFIXES)
            or Path(target).is_file())


def clip_spec(clip: str | None = None, pretrained: str | None = None) -> tuple[str, str | None]:
    """(open_clip name, pretrained tag / file / None for random weights): the world CLIP
    with its shipped checkpoint by default; ``none`` = random weights."""
    from conceptlens.models.clip import WORLD_CLIP_NAME

    name = WORLD_CLIP_NAME if clip in (None, WORLD) else clip
    if pretrained is None:
        if name != WORLD_CLIP_NAME:
            raise DescribeError(f"--clip {name} needs --pretrained: an open_clip tag, a local "
                                "checkpoint file, or none for random weights")
        return name, str(shipped_path(f"{WORLD_MODELS_DIR}/clip.pt"))
    return name, None if pretrained.lower() == "none" else pretrained


def method_settings(method: str, k: int | None = None, alpha: float | None = None,
                    kappa: float | None = None, template: str | None = None) -> dict:
    """The named method's settings (the workflow's defaults) with the given overrides.

    Each option sets the key its method family declares for it
    (:func:`conceptlens.methods.option_key`): ``k`` is the WWW family's top-k or
    CLIP-Dissect's ``top_k`` (soft_wpmi, wpmi); ``alpha`` applies to the WWW family,
    ``kappa`` to its t-vMF methods (without it, a method the workflow tunes on its tuning
    split, ``kappa: tuned``, gets the paper's 1).  An option that does not apply is an error.
    """
    from conceptlens import methods

    if method not in METHODS:
        raise DescribeError(f"--method: {method!r} (valid: {', '.join(METHODS)})")
    given = dict(METHODS[method])
    if k is not None and k < 1:
        raise DescribeError(f"--k must be >= 1, got {k}")
    for option, value in (("k", k), ("alpha", alpha), ("kappa", kappa)):
        if value is None:
            continue
        key = methods.option_key(option, given)
        if key is None:
            raise DescribeError(f"--{option} does not apply to method {method}")
        given[key] = value
    settings = methods.method_settings({"methods": {method: given}})[method]
    if methods.is_tuned(settings):
        # no tuning split here: the workflow's `kappa: tuned` is the paper's kappa
        settings["kappa"] = methods.PAPER_KAPPA
    settings["template"] = TEMPLATES[method] if template is None else template
    if "{}" not in settings["template"]:
        raise DescribeError(f"--template: {settings['template']!r} has no {{}} for the concept")
    return settings


def www_k(given: int | None, default: int, n_images: int) -> int:
    """WWW's k on ``n_images`` before :func:`conceptlens.methods.fit_to_probe`: ``given``,
    else the workflow's ``default`` capped at :data:`DEFAULT_K_FRACTION` of the images (at
    least 1): top-k sets much larger than the images of one concept mix in images the
    neuron barely responds to (on 100 world images, k = 40 finds 3-5 of the 10 fc classes,
    k = 5 finds 7-9)."""
    if given is None:
        return max(1, min(default, round(DEFAULT_K_FRACTION * n_images)))
    return given


def fit_to_images(method: str, settings: dict, n_images: int,
                  say: Callable[[str], None] = lambda _msg: None) -> dict:
    """``settings`` fitted to ``n_images`` by the workflow's rule
    (:func:`conceptlens.methods.fit_to_probe`), each change a warning."""
    from conceptlens import methods

    fitted, notes = methods.fit_to_probe({method: settings}, n_images)
    for note in notes:
        _warn(note, say)
    return fitted[method]


def few_images_note(n_images: int, folder: str | os.PathLike, method: str,
                    k: tuple[int, int] | None = None) -> str | None:
    """One line warning that ``n_images`` (under :data:`FEW_IMAGES`) under ``folder`` make
    weak descriptions, naming ``method``'s top-k as (default or given, used) when it
    reads one; None for enough images."""
    if n_images >= FEW_IMAGES:
        return None
    top = ""
    if k is not None:
        lowered = f"k lowered from {k[0]} to {k[1]}" if k[1] < k[0] else f"k = {k[1]}"
        images = "image" if k[1] == 1 else f"{k[1]} images"
        top = f" ({method}'s {lowered}: each neuron is described by its top {images})"
    return (f"only {n_images} images under {folder}: descriptions from so few images are "
            f"weak{top}; {FEW_IMAGES} or more are advised")


def _warn(message: str, say: Callable[[str], None], stacklevel: int = 4) -> None:
    """``message`` as a warning (at the caller ``stacklevel`` frames up) and said."""
    warnings.warn(message, stacklevel=stacklevel)
    say(f"warning: {message}")


def _half(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to float16 (the workflow's storage precision)."""
    import numpy as np

    return np.asarray(x, dtype=np.float16).astype(np.float32)


# ------------------------------------------------------------------------ the run


def describe_folder(folder: str | os.PathLike,
                    concepts: str | os.PathLike | Sequence[str] | None = None, *,
                    target: str = WORLD, weights: str | None = None, arch: str | None = None,
                    layers: str | Sequence[str] | None = None, clip: str | None = None,
                    pretrained: str | None = None, method: str = "www", k: int | None = None,
                    alpha: float | None = None, kappa: float | None = None,
                    template: str | None = None, units: str | Sequence[str | int] | None = None,
                    device: str = "auto", batch_size: int = 64, workers: int = 0,
                    input_size: int | None = None, center_fraction: float | None = None,
                    gradcam_layer: str = GRADCAM_LAYER,
                    gradcam_fraction: float | None = None,
                    gradcam_target: str = GRADCAM_TARGET, gradcam_peak: str | None = None,
                    precision: str = PRECISION,
                    reduction: str = REDUCTION, tokens: str = TOKENS,
                    log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Describe the neurons of ``layers`` of a target on the images under ``folder``.

    ``concepts``: a list, a file, ``world`` or ``wordnet`` (:func:`load_concepts`); None
    = :func:`default_concepts` of the target.
    Arguments are ``conceptlens describe``'s options (see :func:`target_spec`,
    :func:`clip_spec`, :func:`method_settings`, :func:`parse_units`) and the workflow's
    config keys of the same names (``views.*``, ``precision``, ``ground_truth.reduction``,
    ``target.tokens``), with the workflow's defaults; ``layers`` defaults to the target's
    last linear layer (fc).  WWW's ``k`` defaults to 40 capped at 5% of the images (:func:`www_k`); a ``k``,
    CLIP-Dissect ``top_k`` or rank-reorder ``top_fraction`` that does not fit the images
    is fitted to them with a warning, by the workflow's rule (:func:`fit_to_images`);
    fewer than :data:`FEW_IMAGES` images are a warning too (:func:`few_images_note`).

    Returns the workflow's descriptions table, one row per (layer, unit): ``layer, unit,
    concept, concepts, scores, top5, top5_scores, weak``, and ``top_images``: the paths
    (the folder joined with each file) of the neuron's most activating images on the
    method's view, best first: the top-k set it was described from (WWW family), else the
    :data:`TOP_IMAGES` first; ``attrs`` records the method, its settings, the concept set
    (the argument, or the default's name) and the number of images.

    Raises :class:`DescribeError` / :class:`ValueError` subclasses naming a bad argument,
    and :class:`conceptlens.offline.MissingRequirementsError` listing every weight file or
    download that is not available here (before anything is loaded).
    """
    import numpy as np
    import pandas as pd
    import torch

    from conceptlens import methods
    from conceptlens.devices import PRECISIONS, resolve_device
    from conceptlens.ground_truth import output_layer_name
    from conceptlens.images import ImageDecodeError
    from conceptlens.methods import LayerInputs
    from conceptlens.models.clip import load_clip
    from conceptlens.models.zoo import TargetSpecError, check_layers, load_target
    from conceptlens.offline import Missing, MissingRequirementsError, missing_requirements
    from conceptlens.probes import ProbeSetError, probe_index
    from conceptlens.stages.clip import embed_concept_texts, embed_image_sets, image_set_ids
    from conceptlens.stages.describe import describe_layer
    from conceptlens.stages.target_pass import TargetPassSettings, target_pass
    from conceptlens.topk import topk_images

    say = log or (lambda _msg: None)
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DescribeError(f"image folder {str(root)!r} "
                            + ("is not a folder" if root.exists() else "does not exist"))
    spec = target_spec(target, weights, arch, input_size)
    concepts = default_concepts(spec) if concepts is None else concepts
    concept_list = load_concepts(concepts)
    settings = method_settings(method, k, alpha, kappa, template)
    clip_name, clip_pretrained = clip_spec(clip, pretrained)
    fraction = center_fraction or (WORLD_CENTER_FRACTION if spec["source"] == "world"
                                   else REAL_CENTER_FRACTION)
    if batch_size < 1:
        raise DescribeError(f"--batch-size must be >= 1, got {batch_size}")
    if precision not in PRECISIONS:
        raise DescribeError(f"--precision: {precision!r} (valid: {', '.join(PRECISIONS)})")
    if gradcam_target not in ("predicted", "label"):
        raise DescribeError(f"--gradcam-target: {gradcam_target!r} (valid: predicted, label)")
    gradcam_fraction, gradcam_peak = gradcam_window(spec["source"], gradcam_fraction,
                                                    gradcam_peak)
    if gradcam_peak not in ("max", "centroid"):
        raise DescribeError(f"--gradcam-peak: {gradcam_peak!r} (valid: max, centroid)")
    if tokens not in ("mean", "max", "cls"):
        raise DescribeError(f"--tokens: {tokens!r} (valid: mean, max, cls)")
    missing = missing_requirements({"target": spec, "clip_models": {
        WORLD: {"name": clip_name, "pretrained": clip_pretrained}}})
    if missing:
        raise MissingRequirementsError([Missing(m.item, m.reason, option_of_key(m.key))
                                        for m in missing], "this run")
    try:
        torch_device = resolve_device(device)
    except RuntimeError as err:
        raise DescribeError(f"--device: {err}".replace("config key device: ", "")) from None
    try:
        index = probe_index({"source": "folder", "path": str(root)})
    except (ProbeSetError, ImageDecodeError) as err:
        raise type(err)(option_message(err)) from None
    say(f"{len(index)} images under {root}")

    try:
        loaded = load_target(spec, torch_device)
    except TargetSpecError as err:
        if spec["source"] != "checkpoint":
            raise
        if not spec["name"]:  # not a world checkpoint, and no architecture given
            raise DescribeError(f"--target {spec['path']} is not a world checkpoint: give its "
                                "torchvision architecture with --arch NAME") from None
        raise TargetSpecError(str(err).replace("config key target.name", "--arch")) from None
    layers = [layers] if isinstance(layers, str) else layers
    layers = list(dict.fromkeys(layers or [output_layer_name(loaded[0])]))
    check_layers(loaded[0], layers, "--layer")
    view = settings["view"]
    if view == "gradcam":
        check_layers(loaded[0], [gradcam_layer], "--gradcam-layer")
    reads_topk = methods.reads(settings) == "topk"
    first_k = settings.get("k")
    if reads_topk:
        settings["k"] = www_k(k, settings["k"], len(index))
    settings = fit_to_images(method, settings, len(index), say)
    few = few_images_note(len(index), root, method,
                          (first_k, settings["k"]) if reads_topk else None)
    if few:
        _warn(few, say, stacklevel=3)
    if reads_topk:
        say(f"{method}: top-{settings['k']} images per neuron")
    pass_settings = TargetPassSettings(
        layers={view: layers}, topk_layers=layers,
        k={view: methods.topk_size(settings)}, center_fraction=fraction,
        gradcam_fraction=gradcam_fraction, gradcam_layer=gradcam_layer,
        gradcam_target=gradcam_target, gradcam_peak=gradcam_peak, reduction=reduction,
        tokens=tokens,
        batch_size=batch_size, workers=workers, precision=precision)
    try:
        recorded = target_pass(root, index, spec, pass_settings, torch_device, loaded=loaded)
    except ValueError as err:
        raise DescribeError(option_message(err).replace(
            "config key views.gradcam_target", "--gradcam-target")) from None
    del loaded
    widths = recorded.summary["widths"]
    chosen = _units_of_layers(parse_units(units), widths)
    say(f"{view} view: activations of "
        + ", ".join(f"{layer} ({w} units)" for layer, w in widths.items()))

    files = [root / str(f) for f in index["file"]]
    topk = {layer: recorded.topk[view][layer][0] if reads_topk else None for layer in layers}
    ids = image_set_ids("topk" if reads_topk else "all",
                        [topk[layer][u] for layer, u in chosen.items()] if reads_topk else [],
                        len(files))
    clip_model, _, tokenizer = load_clip(clip_name, clip_pretrained, torch_device,
                                         key=f"clip_models.{WORLD}.pretrained")
    (_, text_emb, template_emb), = embed_concept_texts(
        clip_model, tokenizer, concept_list, {"template": settings["template"]},
        precision).values()
    (_, image_emb), = embed_image_sets(clip_model, files, {"images": (recorded.boxes[view], ids)},
                                       batch_size, workers, precision).values()
    del clip_model
    say(f"CLIP {clip_name}: {len(ids)} images, {len(concept_list)} concepts")
    # scoring runs on the CPU, as the describe rule's
    tables = []
    for layer, u in chosen.items():
        activations = recorded.activations[view][layer].astype(np.float32)
        inputs = LayerInputs(ids, *(torch.from_numpy(_half(e))
                                    for e in (image_emb, text_emb, template_emb)),
                             topk=topk[layer], activations=activations)
        described = describe_layer(settings, layer, concept_list, inputs, u)[0]
        best = (topk[layer][u] if reads_topk
                else topk_images(activations[:, u], min(TOP_IMAGES, len(files)))[0])
        described["top_images"] = [[str(files[i]) for i in row] for row in best]
        tables.append(described)
    table = pd.concat(tables, ignore_index=True)
    table.attrs.update(method=method, settings=dict(settings), n_images=len(files),
                       clip=clip_name, target=spec.get("name") or spec["source"],
                       concepts=str(concepts) if isinstance(concepts, (str, os.PathLike)) else None)
    return table


def _units_of_layers(units: np.ndarray | None, widths: Mapping[str, int]
                     ) -> dict[str, np.ndarray]:
    """Layer -> (n,) unit ids to describe: ``units`` (sorted) or all of the layer's."""
    import numpy as np

    if units is None:
        return {layer: np.arange(w) for layer, w in widths.items()}
    for layer, width in widths.items():
        if units[-1] >= width:
            raise DescribeError(f"--units: unit {units[-1]} does not exist in layer {layer} "
                                f"({width} units: 0-{width - 1})")
    return dict.fromkeys(widths, units)


def summary_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The printed table: ``layer, unit, concepts`` (selected, best first, comma-joined)
    and ``score`` (of the best concept, 4 decimals)."""
    import pandas as pd

    return pd.DataFrame({"layer": table["layer"], "unit": table["unit"],
                         "concepts": table["concepts"].map(", ".join),
                         "score": table["scores"].map(lambda s: f"{s[0]:.4f}" if len(s) else "")})
