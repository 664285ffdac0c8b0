"""Target models by spec (config key ``target``): the world ResNet-18, any torchvision
classifier by name and weights enum, a timm model by name, or a local checkpoint.

A spec is a mapping with ``source`` (world | torchvision | timm | checkpoint), ``name``
(the architecture), ``weights`` (torchvision: an enum member name such as
``IMAGENET1K_V2`` or ``DEFAULT``; timm: a pretrained tag or ``true``; null = random
initialisation), ``path`` (checkpoint: a local file; world: the world checkpoint), and
``input_size`` (side of the model input in px).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from conceptlens.errors import InputError
from conceptlens.models.checkpoint_files import (
    Problem,
    checkpoint_error,
    file_problem,
    load_checkpoint,
    mismatch_summary,
    safe_error_text,
)
from conceptlens.models.memory_format import channels_last
from conceptlens.models.target import TARGET_MEAN, TARGET_STD, load_target_checkpoint
from conceptlens.models.torchvision_weights import (
    TargetSpecError,
    torchvision_cache_file,
    torchvision_weights,
)

SOURCES = ("world", "torchvision", "timm", "checkpoint")
#: the config key of a local target checkpoint
PATH_KEY = "target.path"


@dataclass(frozen=True)
class Preprocess:
    """How images become model inputs: square side in px and per-channel mean/std."""

    input_size: int
    mean: tuple[float, float, float] = TARGET_MEAN
    std: tuple[float, float, float] = TARGET_STD

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (n, 3, h, w) in [0, 1] -> normalised model input."""
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


# ------------------------------------------------------------------------------ specs


def target_preprocess(spec: Mapping) -> Preprocess:
    """Input size and normalisation of the target (timm models carry their own)."""
    size = int(spec.get("input_size") or 224)
    if spec.get("source") == "timm":
        cfg = _timm_pretrained_cfg(spec["name"], spec.get("weights"))
        return Preprocess(size, tuple(cfg.get("mean", TARGET_MEAN)), tuple(cfg.get("std", TARGET_STD)))
    return Preprocess(size)


def _timm_pretrained_cfg(name: str, weights) -> dict:
    import timm

    if not timm.is_model(name.split(".")[0]):
        raise TargetSpecError(f"config key target.name: {name!r} is not a timm model")
    model_name = name if not isinstance(weights, str) else f"{name}.{weights}"
    try:
        cfg = timm.models.get_pretrained_cfg(model_name)
    except Exception:  # unknown tag
        cfg = None
    return cfg.to_dict() if cfg is not None else {}


def build_architecture(spec: Mapping, num_classes: int | None = None) -> nn.Module:
    """The spec's architecture with random weights (no download), for layer names and
    for loading local checkpoints."""
    source, name = spec.get("source", "world"), spec.get("name")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if source == "world":
        from conceptlens.models.target import build_world_target

        return build_world_target(num_classes or 8)
    if not name:
        raise TargetSpecError(f"config key target.name is required for target.source {source!r}")
    if source == "timm":
        import timm

        _timm_pretrained_cfg(name, None)
        return timm.create_model(name, pretrained=False, **kwargs)
    from torchvision import models

    torchvision_weights(name, None)  # validates the name
    return models.get_model(name, weights=None, **kwargs)


def layer_names(model: nn.Module) -> list[str]:
    """Module names that can be described (every named submodule)."""
    return [name for name, _ in model.named_modules() if name]


def check_layers(model: nn.Module, layers: list[str], key: str = "layers") -> None:
    """Raise :class:`TargetSpecError` naming unknown layers and listing the valid ones."""
    valid = layer_names(model)
    unknown = [layer for layer in layers if layer not in valid]
    if unknown:
        top = [n for n in valid if "." not in n]
        raise TargetSpecError(
            f"config key {key}: unknown layer(s) {', '.join(map(repr, unknown))} of the target "
            f"{type(model).__name__}; valid top-level names: {', '.join(top)} "
            f"(and submodules such as {next((n for n in valid if '.' in n), top[-1])})")


def load_target(spec: Mapping, device: str | torch.device = "cpu"
                ) -> tuple[nn.Module, list[str] | None]:
    """The target model in eval mode on ``device``, channels-last
    (:func:`~conceptlens.models.memory_format.channels_last`), and its class names (None
    if unknown).

    world: the world checkpoint at ``spec['path']``; torchvision: ``name`` with ``weights``
    (downloaded into the torch hub cache when not there); timm: ``name`` with
    ``pretrained`` when ``weights`` is set; checkpoint: ``name``'s architecture with the
    state dict at ``path`` (a plain state dict or ``{"state_dict": ...}``).
    """
    source = spec.get("source", "world")
    if source == "world":
        return load_target_checkpoint(spec["path"], device)
    name, weights = spec.get("name"), spec.get("weights")
    if source == "torchvision":
        from torchvision import models

        enum = torchvision_weights(name, weights)
        if enum is not None and not torchvision_cache_file(enum).is_file():
            from conceptlens.offline import require_download

            require_download(enum.url, f"torchvision weights {name} {weights}",
                             "target.source: checkpoint and target.path")
        try:
            model = models.get_model(name, weights=enum)
        except Exception as err:  # network errors surface as many exception types
            cached = torchvision_cache_file(enum) if enum is not None else None
            if cached is not None and cached.is_file():  # here but unreadable: no download
                raise checkpoint_error(cached, "target.weights", file_problem(cached, err), (
                    "delete the file to download it again, or set target.source: checkpoint "
                    "and target.path")) from None
            raise MissingWeightsError(
                f"could not load torchvision {name} weights {weights}: {safe_error_text(err)}. "
                f"Download {enum.url} elsewhere and set target.source: checkpoint, "
                "target.path: <the file>.") from err
        classes = list(enum.meta["categories"]) if enum is not None else None
    elif source == "timm":
        import timm

        _timm_pretrained_cfg(name, weights)
        pretrained = weights not in (None, False, "", "none")
        model_name = f"{name}.{weights}" if isinstance(weights, str) and pretrained else name
        try:
            model = timm.create_model(model_name, pretrained=pretrained)
        except Exception as err:
            raise MissingWeightsError(
                f"could not load timm {model_name} pretrained weights: {safe_error_text(err)}. "
                "Download them elsewhere and set target.source: checkpoint, target.path: "
                "<the file>.") from (None if "weights_only" in str(err) else err)
        classes = None
    elif source == "checkpoint":
        path = Path(spec.get("path") or "")
        if not path.is_file():
            raise FileNotFoundError(f"config key target.path: checkpoint {str(path)!r} not found")
        payload = load_checkpoint(path, PATH_KEY)
        if isinstance(payload, Mapping) and payload.get("architecture") == "world-resnet18":
            return load_target_checkpoint(path, device, PATH_KEY)
        state = state_dict_of(payload, path)
        num_classes = _num_classes(state)
        model = build_architecture({**spec, "source": spec.get("architecture", "torchvision")},
                                   num_classes)
        try:
            model.load_state_dict({k.removeprefix("module."): v.float() if v.is_floating_point()
                                   else v for k, v in state.items()})
        except RuntimeError as err:
            raise TargetSpecError(
                f"config key target.path: {str(path)!r} does not fit architecture {name!r} "
                f"(target.name): {mismatch_summary(err)}; set target.name to the architecture "
                "the file was saved from") from None
        classes = payload.get("classes") if isinstance(payload, Mapping) else None
    else:
        raise TargetSpecError(f"config key target.source: {source!r} (valid: {', '.join(SOURCES)})")
    return channels_last(model.to(device).eval()), classes


def state_dict_of(payload: object, path: Path) -> Mapping:
    """The state dict of a loaded checkpoint: the payload or its ``state_dict`` entry,
    a mapping of names to tensors (else a one-line error naming target.path)."""
    state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping) or not state or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        held = (f"a mapping of {', '.join(map(repr, list(state)[:4]))}"
                if isinstance(state, Mapping) and state else type(payload).__name__)
        raise checkpoint_error(path, PATH_KEY, Problem(
            f"holds no state dict (names -> tensors, or {{'state_dict': ...}}) but {held}"))
    return state


def _num_classes(state: Mapping) -> int | None:
    """Output size of the classifier in a state dict (last 2-d weight), if any."""
    weights = [v for k, v in state.items() if k.endswith("weight") and getattr(v, "ndim", 0) == 2]
    return int(weights[-1].shape[0]) if weights else None


class MissingWeightsError(InputError, RuntimeError):
    """Pretrained weights could not be loaded; the message names the config key to set."""
