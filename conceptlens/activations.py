"""Recording neuron activations of a model's layers over a set of images.

Conv layers give one value per channel (spatial mean or max, ``reduction``); linear layers
give their outputs (fc: logits); ViT blocks and Swin stages one value per channel by
``tokens`` (mean or max over the patch tokens, or the class token): the layouts of
:mod:`conceptlens.models.layouts`.  The files they are stored in:
:mod:`conceptlens.io.activations`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from conceptlens.models.layouts import TOKEN_REDUCTIONS, layer_layouts


@contextlib.contextmanager
def captured_layers(model: nn.Module, layers: list[str], reduction: str = "mean",
                    tokens: str = "mean") -> Iterator[dict[str, torch.Tensor]]:
    """While open, every forward pass of ``model`` leaves in the yielded dict each of
    ``layers``' output reduced to (n, n_neurons), detached: conv maps by ``reduction``,
    ViT tokens and Swin maps by ``tokens``
    (:meth:`conceptlens.models.layouts.LayerLayout.values`).  An output that cannot be
    reduced is a :class:`~conceptlens.models.layouts.LayoutError` naming the layer, its
    shape and the supported ones.

    Hooks only: the pass itself can be any (under no_grad, or Grad-CAM's with gradients).
    """
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; valid: {', '.join(n for n in modules if n)}")
    if tokens not in TOKEN_REDUCTIONS:
        raise ValueError(f"config key target.tokens: {tokens!r} (valid: "
                         f"{', '.join(TOKEN_REDUCTIONS)})")
    layouts = layer_layouts(model, layers)
    captured: dict[str, torch.Tensor] = {}

    def capture(name: str):
        def hook(_module, _inputs, output):
            out = output.detach() if isinstance(output, torch.Tensor) else output
            captured[name] = layouts[name].values(out, reduction, tokens)
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
                       out: dict[str, np.ndarray] | None = None, tokens: str = "mean"
                       ) -> dict[str, np.ndarray]:
    """Activations of ``layers`` over ``batches`` of model-ready tensors (n, 3, h, w);
    ``reduction`` and ``tokens``: as :func:`captured_layers`.

    Returns layer -> (n_images, n_neurons) float32; or, when ``out`` gives a preallocated
    (n_images, n_neurons) array per layer (e.g. a disk-backed ``np.memmap``), fills those
    batch by batch and returns them, so memory stays one batch whatever the probe size.
    """
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    start = 0
    with captured_layers(model, layers, reduction, tokens) as captured:
        model.eval().to(device)
        for batch in batches:
            captured.clear()
            model(batch.to(device))
            check_captured(captured, layers)
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


def check_captured(captured: dict, layers: list[str]) -> None:
    """A layer the forward pass did not run (a module whose weights its parent uses
    directly, such as a MultiheadAttention's ``out_proj``) is an error naming it."""
    missing = [name for name in layers if name not in captured]
    if missing:
        raise ValueError(f"layer(s) {', '.join(missing)}: the model's forward pass does not "
                         "run them as modules, so they have no output to record")


def layer_widths(model: nn.Module, layers: list[str], input_size: int,
                 device: torch.device | str = "cpu", tokens: str = "mean") -> dict[str, int]:
    """Number of neurons of each layer (one forward pass of a single blank image); an
    output that ``tokens`` cannot reduce (``cls`` without a class token) is an error here,
    before any image is read."""
    x = torch.zeros(1, 3, input_size, input_size, device=device)
    return {name: a.shape[1] for name, a in record_activations(model, [x], layers, "mean",
                                                                device, tokens=tokens).items()}
