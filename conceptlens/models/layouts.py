"""How the output of a target's layer is laid out, and how it becomes one value per neuron
(n, c) or per-neuron spatial maps (n, c, h, w).

=============================  ==========================  ================================
output                         where                       one value per neuron
=============================  ==========================  ================================
(n, c)                         linear layers (fc, heads)   itself
(n, c, h, w)                   convolutions                spatial ``reduction`` (mean/max)
(n, prefix + h * w, d)         ViT blocks (torchvision     ``tokens``: mean or max over the
                               ``vit_*``, timm ViTs)       patch tokens, or the class token
(n, h, w, c)                   Swin stages (torchvision    ``tokens``: mean or max over
                               ``swin_*`` ``features.N``,  space (no class token)
                               timm ``swin_*``)
=============================  ==========================  ================================

The layout comes from the model's and the module's type, never from the sizes alone:
whether a 4-d output is channels-last, and how many prefix tokens (class, distillation,
register tokens) precede a ViT's patch tokens (torchvision ViT: 1 class token; timm:
``model.num_prefix_tokens``, 0 for the patch embedding before they are added).  The number
of dimensions of the output then tells which of the layer's layouts a tensor has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from conceptlens.errors import InputError

TOKEN_REDUCTIONS = ("mean", "max", "cls")
SPATIAL_REDUCTIONS = ("mean", "max")
SUPPORTED_SHAPES = ("(n, c) linear, (n, c, h, w) conv, (n, tokens, d) ViT tokens, "
                    "(n, h, w, c) Swin")
#: modules whose 4-d output is channels-first even inside a channels-last model
_CHANNELS_FIRST_MODULES = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.MaxPool2d,
                           nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class LayoutError(InputError, ValueError):
    """A layer's output cannot be read as neurons; the message names the layer, its
    output's shape and the shapes that are supported."""


@dataclass(frozen=True)
class LayerLayout:
    """The layout of one layer's output.

    ``four_d``: how a 4-d output is laid out, ``"nchw"`` (convolutions), ``"nhwc"`` (Swin)
    or None (not supported: e.g. a ViT's attention internals); ``prefix_tokens``: a 3-d
    output is ViT tokens (n, prefix_tokens + h * w, d), None: 3-d outputs are not
    supported; ``class_token``: the first prefix token is a class token; ``grid``: the
    patch grid (h, w) the model was built for (None: square, from the token count).
    """

    layer: str
    model: str = ""
    four_d: str | None = "nchw"
    prefix_tokens: int | None = None
    class_token: bool = False
    grid: tuple[int, int] | None = None

    def kind(self, output: torch.Tensor) -> str:
        """``linear`` (n, c), ``conv`` (n, c, h, w), ``tokens`` (n, tokens, d) or ``nhwc``
        (n, h, w, c); a :class:`LayoutError` for any other output."""
        if not isinstance(output, torch.Tensor):
            raise LayoutError(f"layer {self.layer} of {self.model} returns a "
                              f"{type(output).__name__}, not a tensor; supported outputs: "
                              f"{SUPPORTED_SHAPES}")
        if output.ndim == 2:
            return "linear"
        if output.ndim == 3 and self.prefix_tokens is not None:
            return "tokens"
        if output.ndim == 4 and self.four_d is not None:
            return "conv" if self.four_d == "nchw" else "nhwc"
        raise LayoutError(f"cannot reduce the output of layer {self.layer} of {self.model}, "
                          f"of shape {tuple(output.shape)}, to one value per neuron; supported "
                          f"shapes: {SUPPORTED_SHAPES}")

    def values(self, output: torch.Tensor, reduction: str = "mean",
               tokens: str = "mean") -> torch.Tensor:
        """(n, c): one value per neuron.  Conv maps by the spatial ``reduction`` (mean,
        max); ViT tokens and Swin maps by ``tokens`` (mean or max over the patch tokens,
        the prefix tokens excluded, or ``cls``: the class token)."""
        kind = self.kind(output)
        if kind == "linear":
            return output
        if kind == "conv":
            return _reduce(output.flatten(2), 2, reduction, "spatial reduction", "reduction")
        if tokens not in TOKEN_REDUCTIONS:
            raise ValueError(f"config key target.tokens: {tokens!r} (valid: "
                             f"{', '.join(TOKEN_REDUCTIONS)})")
        if tokens == "cls":
            if kind == "tokens" and self.class_token:
                return output[:, 0]
            raise LayoutError(
                f"config key target.tokens: 'cls' takes the class token, but layer "
                f"{self.layer} of {self.model} outputs {_shape_name(kind)} without one; "
                "use mean or max")
        patches = output[:, self.prefix_tokens:] if kind == "tokens" else output.flatten(1, 2)
        return _reduce(patches, 1, tokens, "token reduction", "target.tokens")

    def maps(self, output: torch.Tensor) -> torch.Tensor | None:
        """(n, c, h, w) spatial maps of every neuron: a conv output itself, a ViT's patch
        tokens on their grid (prefix tokens dropped), a Swin map channels-first; None for
        outputs without spatial extent (n, c).  A view where possible (no copy)."""
        kind = self.kind(output)
        if kind == "linear":
            return None
        if kind == "conv":
            return output
        if kind == "nhwc":
            return output.permute(0, 3, 1, 2)
        patches = output[:, self.prefix_tokens:]
        h, w = self.patch_grid(patches.shape[1])
        return patches.unflatten(1, (h, w)).permute(0, 3, 1, 2)

    def gradcam_reshape(self, output: torch.Tensor) -> torch.Tensor:
        """pytorch-grad-cam's ``reshape_transform``: activations and gradients of the layer
        as (n, c, h, w) (:meth:`maps`); a layer without spatial extent is an error."""
        maps = self.maps(output)
        if maps is None:
            raise LayoutError(f"Grad-CAM needs a layer with spatial extent; layer {self.layer} "
                              f"of {self.model} outputs {tuple(output.shape)} (n, c)")
        return maps

    def patch_grid(self, n_patches: int) -> tuple[int, int]:
        """(h, w) of ``n_patches`` patch tokens: the model's grid when it has that many
        patches, else the square one; a count that is neither is an error."""
        if self.grid is not None and self.grid[0] * self.grid[1] == n_patches:
            return self.grid
        side = math.isqrt(n_patches)
        if side * side != n_patches:
            raise LayoutError(f"layer {self.layer} of {self.model}: {n_patches} patch tokens "
                              f"(after {self.prefix_tokens} prefix tokens) do not form a square "
                              "grid")
        return side, side


def _reduce(x: torch.Tensor, dim: int, how: str, what: str, key: str) -> torch.Tensor:
    if how == "mean":
        return x.mean(dim=dim)
    if how == "max":
        return x.amax(dim=dim)
    raise ValueError(f"config key {key}: unknown {what} {how!r}; use 'mean' or 'max'")


def _shape_name(kind: str) -> str:
    return {"tokens": "patch tokens (n, tokens, d)", "nhwc": "a map (n, h, w, c)"}.get(
        kind, kind)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_layout(model: nn.Module, layer: str) -> LayerLayout:
    """The layout of ``layer``'s output in ``model`` (see the module docstring): by the
    model's type (torchvision ``VisionTransformer`` / ``SwinTransformer``, timm models with
    ``num_prefix_tokens`` or ``output_fmt = 'NHWC'``) and the module's type."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise LayoutError(f"unknown layer {layer!r} of {type(model).__name__}")
    module, name = modules[layer], type(model).__name__
    conv = isinstance(module, _CHANNELS_FIRST_MODULES)
    from torchvision.models import SwinTransformer, VisionTransformer

    if isinstance(model, VisionTransformer):
        # conv_proj -> (class token + patches) -> encoder -> x[:, 0] -> heads
        tokens = _under(layer, "encoder")
        side = model.image_size // model.patch_size
        return LayerLayout(layer, f"torchvision {name}", "nchw" if conv else None,
                           1 if tokens else None, tokens, (side, side))
    if isinstance(model, SwinTransformer):
        # features (NHWC after features.0's permute) -> norm -> permute (NCHW) -> avgpool
        nhwc = (_under(layer, "features") or layer == "norm") and not conv
        return LayerLayout(layer, f"torchvision {name}", "nhwc" if nhwc else "nchw")
    if _is_timm(model):
        return _timm_layout(model, layer, conv)
    return LayerLayout(layer, name, _permuted_in_sequential(modules, layer))


def _is_timm(model: nn.Module) -> bool:
    return type(model).__module__.startswith("timm.")


def _timm_layout(model: nn.Module, layer: str, conv: bool) -> LayerLayout:
    name = f"timm {type(model).__name__}"
    prefix = getattr(model, "num_prefix_tokens", None)
    if isinstance(prefix, int):  # ViT-like: tokens after the patch embedding
        grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
        grid = tuple(int(g) for g in grid) if grid is not None else None
        if _under(layer, "patch_embed"):  # before the prefix tokens are added
            nhwc = str(getattr(model.patch_embed, "output_fmt", "NCHW")).endswith("NHWC")
            return LayerLayout(layer, name, "nhwc" if nhwc and not conv else "nchw", 0,
                               False, grid)
        has_class = bool(getattr(model, "has_class_token",
                                 getattr(model, "cls_token", None) is not None))
        return LayerLayout(layer, name, "nchw" if conv else None, prefix,
                           has_class and prefix > 0, grid)
    if str(getattr(model, "output_fmt", "NCHW")) == "NHWC":  # Swin, Swin V2, ...
        return LayerLayout(layer, name, "nchw" if conv else "nhwc")
    modules = dict(model.named_modules())
    try:  # ConvNeXt blocks run their norm and MLP channels-last (unless conv_mlp)
        from timm.models.convnext import ConvNeXtBlock
    except ImportError:  # pragma: no cover - timm without convnext
        ConvNeXtBlock = None  # noqa: N806
    block_name = layer
    while ConvNeXtBlock is not None and "." in block_name:
        block_name = block_name.rsplit(".", 1)[0]
        block = modules[block_name]
        if isinstance(block, ConvNeXtBlock):
            inside = _under(layer[len(block_name) + 1:], "norm") or \
                _under(layer[len(block_name) + 1:], "mlp")
            return LayerLayout(layer, name, "nhwc" if inside and not block.use_conv_mlp
                               else "nchw")
    return LayerLayout(layer, name, _permuted_in_sequential(modules, layer))


def _permuted_in_sequential(modules: dict[str, nn.Module], layer: str) -> str:
    """``nhwc`` when ``layer`` runs after a ``Permute([0, 2, 3, 1])`` (and before the
    permute back) inside the same ``nn.Sequential`` (torchvision ConvNeXt's blocks), else
    ``nchw``."""
    from torchvision.ops.misc import Permute

    name = layer
    while name:
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name]  # "": the model itself
        if isinstance(parent, nn.Sequential):
            children = list(parent.named_children())
            index = next(i for i, (n, _) in enumerate(children) if n == child)
            for _, sibling in reversed(children[:index + 1]):
                if isinstance(sibling, Permute):
                    dims = list(sibling.dims)
                    if dims == [0, 2, 3, 1]:
                        return "nchw" if isinstance(modules[layer], _CHANNELS_FIRST_MODULES) \
                            else "nhwc"
                    if dims == [0, 3, 1, 2]:
                        return "nchw"
        name = parent_name
    return "nchw"


def layer_layouts(model: nn.Module, layers: list[str]) -> dict[str, LayerLayout]:
    """:func:`layer_layout` of each of ``layers``."""
    return {name: layer_layout(model, name) for name in layers}


def reshape_transform(layout: LayerLayout) -> Callable[[torch.Tensor], torch.Tensor]:
    """pytorch-grad-cam's ``reshape_transform`` for a layer (:meth:`LayerLayout.maps`)."""
    return layout.gradcam_reshape
