"""CLIP models through open_clip: the world's tiny CLIP and any hub model by name.

The world CLIP is defined by ``model_configs/conceptlens-world-clip.json`` and registered
with open_clip, so ``open_clip.create_model_and_transforms("conceptlens-world-clip",
pretrained=<checkpoint path>)`` loads it exactly like a hub model.
"""

from __future__ import annotations

import os
from pathlib import Path

import open_clip
import torch
from torch import nn

from conceptlens.errors import InputError
from conceptlens.models.checkpoint_files import (
    CheckpointError,
    Problem,
    checkpoint_error,
    checkpoint_problem,
    is_local_checkpoint,
    load_checkpoint,
    mismatch_summary,
    safe_error_text,
)
from conceptlens.models.memory_format import channels_last
from conceptlens.models.tokens import tokenize_batches

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
WORLD_CLIP_NAME = "conceptlens-world-clip"
_registered = False


def register_model_configs() -> None:
    """Make the project's open_clip model configs known to open_clip (idempotent)."""
    global _registered
    if not _registered:
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _registered = True


class OfflineWeightsError(InputError, RuntimeError):
    """Pretrained weights were asked for but cannot be loaded here."""


def load_clip(name: str, pretrained: str | None = None, device: str | torch.device = "cpu",
              key: str | None = None) -> tuple[nn.Module, object, object]:
    """Create open_clip model ``name`` with weights ``pretrained`` (a tag or a file path).

    Returns (model in eval mode, channels-last (:func:`channels_last`), image preprocess
    transform, tokenizer).  Hub weights that cannot be fetched fail with a message naming
    the model and the tag (:class:`OfflineWeightsError`); a local file that cannot be
    loaded with :class:`~conceptlens.models.checkpoint_files.CheckpointError` naming
    ``key`` (the config key or option that gave the file; default: the model's
    ``pretrained``) and the file.
    """
    register_model_configs()
    local = bool(pretrained) and is_local_checkpoint(pretrained)
    if local and not Path(pretrained).is_file():
        raise FileNotFoundError(f"CLIP checkpoint not found: {pretrained} (model {name})")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained or None, device=device)
    except Exception as err:  # network errors surface as many exception types
        bad_file = local_checkpoint_error(name, pretrained, err, key) if local else None
        if bad_file is not None:  # the file is here: no download would help
            raise bad_file from None
        if local:
            raise
        raise OfflineWeightsError(
            f"could not load CLIP {name!r} with pretrained={pretrained!r}: "
            f"{safe_error_text(err)}. If this machine is offline, download the weights "
            "elsewhere and give the checkpoint's local path as `pretrained`.") from err
    tokenizer = open_clip.get_tokenizer(name)
    return channels_last(model.eval()), preprocess, tokenizer


def local_checkpoint_error(name: str, path: str, err: BaseException, key: str | None = None
                           ) -> CheckpointError | None:
    """Why open_clip could not load CLIP ``name`` from the local file ``path``: the file is
    no checkpoint (or holds objects weights_only refuses), or its weights do not fit the
    model; None when the failure is not the file's (``err`` is then the error to show)."""
    key = key or "`pretrained`"
    if Path(path).suffix not in (".safetensors", ".npz", ".npy"):
        try:
            load_checkpoint(path, key)
        except CheckpointError as bad_file:
            return bad_file
    problem = checkpoint_problem(path)
    if problem is not None:
        return checkpoint_error(path, key, problem)
    if "state_dict" in str(err) or isinstance(err, (KeyError, StopIteration)):
        name_key = f"{key.removesuffix('pretrained')}name" if key.endswith(".pretrained") \
            else "the model name"
        return checkpoint_error(path, key, Problem(
            f"does not fit open_clip model {name!r}: {mismatch_summary(err)}", "mismatch"),
            f"point {key} at a checkpoint of {name}, or set {name_key} to the file's model")
    return None


def create_world_clip() -> nn.Module:
    """A randomly initialised world CLIP (for training)."""
    register_model_configs()
    return open_clip.create_model(WORLD_CLIP_NAME)


def save_clip_checkpoint(model: nn.Module, path: str | os.PathLike) -> None:
    """Save ``model`` as an open_clip-loadable state dict in fp16 (atomic write)."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"state_dict": state}, tmp)
    os.replace(tmp, path)


def clip_normalize(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """uint8 (n, h, w, 3) images at the model's input size -> normalised (n, 3, h, w).

    Equivalent to open_clip's preprocess for images already at the input size.
    """
    return clip_normalize_float(model, images.permute(0, 3, 1, 2).float() / 255.0)


def clip_normalize_float(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Float images (n, 3, h, w) in [0, 1] at the input size -> CLIP-normalised."""
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    mean = torch.tensor(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)).view(1, 3, 1, 1)
    std = torch.tensor(cfg.get("std", open_clip.OPENAI_DATASET_STD)).view(1, 3, 1, 1)
    return (x - mean.to(x.device)) / std.to(x.device)


def clip_input_size(model: nn.Module) -> int:
    size = model.visual.image_size
    return int(size[0] if isinstance(size, (tuple, list)) else size)


@torch.no_grad()
def encode_texts(model: nn.Module, tokenizer, texts: list[str], batch_size: int = 512,
                 desc: str | None = None) -> torch.Tensor:
    """L2-normalised text embeddings, (len(texts), embed_dim) float32; warns once when
    the context length cut texts (:func:`conceptlens.models.tokens.tokenize_batches`).
    ``desc``: report progress (texts done, rate, time left) under that name
    (:mod:`conceptlens.progress`); None: none."""
    from conceptlens.progress import progress_batches

    device = next(model.parameters()).device
    out = []
    batches = tokenize_batches(tokenizer, texts, batch_size)
    if desc is not None:
        batches = progress_batches(batches, total=len(texts), desc=desc, unit="texts")
    for tokens in batches:
        out.append(nn.functional.normalize(model.encode_text(tokens.to(device)).float(), dim=-1))
    return torch.cat(out) if out else torch.zeros(0, 0)


@torch.no_grad()
def encode_images(model: nn.Module, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """L2-normalised image embeddings of normalised pixels (n, 3, h, w) -> (n, d) float32."""
    device = next(model.parameters()).device
    out = [nn.functional.normalize(model.encode_image(pixels[s:s + batch_size].to(device)).float(), dim=-1)
           for s in range(0, len(pixels), batch_size)]
    return torch.cat(out)
