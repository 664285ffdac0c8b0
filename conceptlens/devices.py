"""Where and in what precision models run: the ``device`` and ``precision`` config keys."""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("float32", "autocast")


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key device: 'cuda' was asked for but no CUDA device is available")
    return torch.device(device)


def autocast_dtype(device: torch.device | str) -> torch.dtype:
    """The reduced precision of ``precision: autocast``: float16 on CUDA, bfloat16 on CPU."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16


def precision_context(precision: str, device: torch.device | str):
    """``torch.autocast`` for ``precision`` 'autocast', a no-op context for 'float32'."""
    if precision == "float32":
        return contextlib.nullcontext()
    if precision != "autocast":
        raise ValueError(f"config key precision: {precision!r} (valid: {', '.join(PRECISIONS)})")
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=autocast_dtype(device))
