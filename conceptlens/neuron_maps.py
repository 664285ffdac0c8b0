"""Spatial activation maps of neurons on images: what the explorer overlays on a neuron's
top-activating images, upsampled (as Network Dissection shows them).

A neuron's map on an image is its channel of the layer's output at the layer's resolution:
a conv channel (n, c, h, w), a ViT's patch tokens on their grid (the prefix tokens
dropped), a Swin stage's channel (n, h, w, c), by the layer's layout
(:mod:`conceptlens.models.layouts`).  Layers without spatial extent (linear layers, fc)
have no maps: the functions here return None for them, which callers check for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from conceptlens.models.layouts import LayerLayout, layer_layouts


@contextlib.contextmanager
def captured_maps(model: nn.Module, layers: list[str],
                  layouts: dict[str, LayerLayout] | None = None
                  ) -> Iterator[dict[str, torch.Tensor | None]]:
    """While open, every forward pass of ``model`` leaves in the yielded dict each of
    ``layers``' spatial maps (b, c, h, w), detached (a view of the output, no copy), or
    None for a layer without spatial extent
    (:meth:`~conceptlens.models.layouts.LayerLayout.maps`)."""
    layouts = layouts or layer_layouts(model, layers)
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor | None] = {}

    def capture(name: str):
        def hook(_module, _inputs, output):
            out = output.detach() if isinstance(output, torch.Tensor) else output
            captured[name] = layouts[name].maps(out)
        return hook

    hooks = [modules[name].register_forward_hook(capture(name)) for name in layers]
    try:
        yield captured
    finally:
        for hook in hooks:
            hook.remove()


def gather_maps(maps: torch.Tensor, rows: np.ndarray | torch.Tensor,
                units: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(m, h, w) float32: the map of unit ``units[j]`` on image ``rows[j]`` of a batch's
    ``maps`` (b, c, h, w); one advanced-indexing gather, on the maps' device."""
    rows_t = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=maps.device)
    units_t = torch.as_tensor(np.asarray(units, dtype=np.int64), device=maps.device)
    return maps[rows_t, units_t].float()


@torch.no_grad()
def neuron_activation_maps(model: nn.Module, layer_name: str, images: torch.Tensor,
                           units: np.ndarray | torch.Tensor, layout: LayerLayout | None = None,
                           device: torch.device | str = "cpu") -> np.ndarray | None:
    """The map of unit ``units[i]`` of ``layer_name`` on image ``images[i]``.

    ``images``: (n, 3, H, W) normalised model inputs; ``units``: (n,) ints; ``layout``: the
    layer's (default: :func:`~conceptlens.models.layouts.layer_layout`).  One forward pass.
    Returns (n, h, w) float32 at the layer's resolution, or None when the layer has no
    spatial extent (an (n, c) output: linear layers, fc).
    """
    units = np.asarray(units, dtype=np.int64).reshape(-1)
    if len(units) != len(images):
        raise ValueError(f"{len(units)} units for {len(images)} images")
    layouts = {layer_name: layout} if layout is not None else None
    model.eval().to(device)
    with captured_maps(model, [layer_name], layouts) as captured:
        model(images.to(device))
    if layer_name not in captured:
        raise ValueError(f"layer {layer_name}: the model's forward pass does not run it")
    maps = captured[layer_name]
    if maps is None:
        return None
    if units.size and (units.min() < 0 or units.max() >= maps.shape[1]):
        raise ValueError(f"units {units.min()}..{units.max()} outside layer {layer_name}'s "
                         f"{maps.shape[1]} channels")
    return gather_maps(maps, np.arange(len(units)), units).cpu().numpy()


@torch.no_grad()
def spatial_shapes(model: nn.Module, layers: list[str], input_size: int,
                   device: torch.device | str = "cpu") -> dict[str, tuple[int, int, int] | None]:
    """(c, h, w) of each layer's maps on an ``input_size`` input, or None for a layer
    without spatial extent (one forward pass of a single blank image)."""
    model.eval().to(device)
    with captured_maps(model, layers) as captured:
        model(torch.zeros(1, 3, input_size, input_size, device=device))
    missing = [name for name in layers if name not in captured]
    if missing:
        raise ValueError(f"layer(s) {', '.join(missing)}: the model's forward pass does not "
                         "run them as modules, so they have no maps")
    return {name: None if captured[name] is None
            else tuple(int(s) for s in captured[name].shape[1:]) for name in layers}
