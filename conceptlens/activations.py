"""Recording neuron activations of a model's layers over a set of images.

Conv layers give one value per channel (spatial mean or max); linear layers give their
outputs (fc: logits).  The files they are stored in: :mod:`conceptlens.io.activations`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn


def reduce_spatial(output: torch.Tensor, reduction: str) -> torch.Tensor:
    """(n, c, h, w) -> (n, c) by spatial ``mean`` or ``max``; (n, c) passes through."""
    if output.ndim == 2:
        return output
    if output.ndim != 4:
        raise ValueError(f"cannot reduce a layer output of shape {tuple(output.shape)}")
    if reduction == "mean":
        return output.mean(dim=(2, 3))
    if reduction == "max":
        return output.amax(dim=(2, 3))
    raise ValueError(f"unknown spatial reduction {reduction!r}; use 'mean' or 'max'")


@contextlib.contextmanager
def captured_layers(model: nn.Module, layers: list[str], reduction: str = "mean"
                    ) -> Iterator[dict[str, torch.Tensor]]:
    """While open, every forward pass of ``model`` leaves in the yielded dict each of
    ``layers``' output reduced to (n, n_neurons) (:func:`reduce_spatial`), detached.

    Hooks only: the pass itself can be any (under no_grad, or Grad-CAM's with gradients).
    """
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; valid: {', '.join(n for n in modules if n)}")
    captured: dict[str, torch.Tensor] = {}

    def capture(name: str):
        def hook(_module, _inputs, output):
            captured[name] = reduce_spatial(output.detach(), reduction)
        return hook

    hooks = [modules[name].register_forward_hook(capture(name)) for name in layers]
    try:
        yield captured
    finally:
        for hook in hooks:
            hook.remove()


@torch.no_grad()
def record_activations(model: nn.Module, batches: Iterable[torch.Tensor], layers: list[str],
                       reduction: str = "mean", device: torch.device | str = "cpu",
                       out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Activations of ``layers`` over ``batches`` of model-ready tensors (n, 3, h, w).

    Returns layer -> (n_images, n_neurons) float32; or, when ``out`` gives a preallocated
    (n_images, n_neurons) array per layer (e.g. a disk-backed ``np.memmap``), fills those
    batch by batch and returns them, so memory stays one batch whatever the probe size.
    """
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    start = 0
    with captured_layers(model, layers, reduction) as captured:
        model.eval().to(device)
        for batch in batches:
            model(batch.to(device))
            start = store_batch(captured, start, chunks if out is None else out)
    if out is not None:
        return out
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def store_batch(captured: dict[str, torch.Tensor], start: int,
                out: dict[str, np.ndarray] | dict[str, list[np.ndarray]]) -> int:
    """Put one batch's captured (b, n_neurons) outputs into ``out``: rows ``start:start+b``
    of a preallocated matrix, or appended to a list.  Returns the next start row."""
    n = 0
    for name, values in captured.items():
        values_np = values.float().cpu().numpy()
        n = len(values_np)
        if isinstance(out[name], list):
            out[name].append(values_np)
        else:
            out[name][start:start + n] = values_np
    return start + n


def layer_widths(model: nn.Module, layers: list[str], input_size: int,
                 device: torch.device | str = "cpu") -> dict[str, int]:
    """Number of neurons of each layer (one forward pass of a single blank image)."""
    x = torch.zeros(1, 3, input_size, input_size, device=device)
    return {name: a.shape[1] for name, a in record_activations(model, [x], layers, "mean",
                                                                device).items()}
