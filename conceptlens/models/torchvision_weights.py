"""torchvision weights by name: the enum member a target config names and where torch.hub
keeps its file (used by the offline check and the target loader alike)."""

from __future__ import annotations

import os
from pathlib import Path

from conceptlens.errors import InputError


class TargetSpecError(InputError, ValueError):
    """A target spec names an unknown model, weights or layer; the message names the key."""


def torchvision_weights(name: str, weights: str | None):
    """The torchvision weights enum member ``weights`` of model ``name`` (None = random)."""
    from torchvision import models

    if name not in models.list_models(module=models):
        raise TargetSpecError(f"config key target.name: {name!r} is not a torchvision "
                              f"classification model (e.g. resnet50, vit_b_16, convnext_tiny)")
    if weights in (None, "", "none"):
        return None
    enum = models.get_model_weights(name)
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        valid = ", ".join(["DEFAULT", *enum.__members__])
        raise TargetSpecError(f"config key target.weights: {weights!r} is not a weights enum of "
                              f"{name} (valid: {valid})") from None


def torchvision_cache_file(weights) -> Path:
    """Where torch.hub keeps the downloaded file of a weights enum member."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
