"""The world's target classifier: torchvision ResNet-18 adapted to small images.

``layer4`` does not downsample (its first block has stride 1), so a 64 x 64 input keeps a
4 x 4 map at ``layer4`` (Grad-CAM needs spatial resolution).  A prototype removed the stem
max-pool instead; keeping it and not striding ``layer4`` gives the same 4 x 4 map at 2.5x
the training speed on a CPU.  Checkpoints are plain state dicts (fp16 on disk)
with the metadata needed to rebuild the model.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18

from conceptlens.models.checkpoint_files import (
    WORLD_KEY,
    Problem,
    checkpoint_error,
    key_label,
    load_checkpoint,
    mismatch_summary,
)
from conceptlens.models.memory_format import channels_last

# Normalisation of world images fed to the target (ImageNet statistics, as torchvision).
TARGET_MEAN = (0.485, 0.456, 0.406)
TARGET_STD = (0.229, 0.224, 0.225)


def build_world_target(num_classes: int) -> nn.Module:
    """ResNet-18 for ``num_classes`` shapes whose ``layer4`` keeps its input resolution.

    A 64 x 64 input gives maps of 16 (layer1), 8 (layer2), 4 (layer3) and 4 x 4 (layer4).
    """
    model = resnet18(weights=None, num_classes=num_classes)
    first = model.layer4[0]
    first.conv1.stride = (1, 1)
    first.downsample[0].stride = (1, 1)
    return model


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (n, h, w, 3) or float (n, 3, h, w) in [0, 1] -> normalised float (n, 3, h, w)."""
    if images.dtype == torch.uint8:
        images = images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(TARGET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(TARGET_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def save_target_checkpoint(model: nn.Module, classes: list[str], path: str | os.PathLike,
                           extra: dict | None = None) -> None:
    """Save ``model``'s weights in fp16 with its class names (atomic write)."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = {"architecture": "world-resnet18", "classes": list(classes), "state_dict": state,
               **(extra or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_target_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                           key: str = WORLD_KEY) -> tuple[nn.Module, list[str]]:
    """Load a world target checkpoint as a float32 model in eval mode, with its classes.

    A file that is no world checkpoint, or does not fit the world ResNet-18, raises
    :class:`~conceptlens.models.checkpoint_files.CheckpointError` naming ``key`` (the
    config key that gave the file) and the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{key_label(key)}: target checkpoint not found: {path}")
    payload = load_checkpoint(path, key)
    if not isinstance(payload, dict) or payload.get("architecture") != "world-resnet18" or \
            not isinstance(payload.get("classes"), list) or \
            not isinstance(payload.get("state_dict"), dict):
        found = payload.get("architecture") if isinstance(payload, dict) else type(payload).__name__
        raise checkpoint_error(path, key, Problem(
            f"is not a world target checkpoint (architecture={found!r}; one holds "
            "architecture: world-resnet18, classes and state_dict)"))
    model = build_world_target(len(payload["classes"]))
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in payload["state_dict"].items()})
    except (RuntimeError, AttributeError) as err:
        raise checkpoint_error(path, key, Problem(
            f"does not fit the world ResNet-18 with {len(payload['classes'])} classes: "
            f"{mismatch_summary(err)}", "mismatch")) from None
    return channels_last(model.to(device).eval()), list(payload["classes"])
