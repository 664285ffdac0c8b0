"""Views of probe images: which part of each image the target and CLIP see.

A view is a table of crop boxes, one per probe image, in that image's pixels
(``x0, y0, x1, y1``, ends exclusive); the crop is resized to the model input.

- ``full``: the whole image.
- ``center``: a centred square of ``fraction`` of the side (ImageNet models: resize 256,
  centre crop 224, i.e. 0.875; the world demo: 0.75, ``views.center_fraction``).
- ``gradcam``: a square window (``views.gradcam_fraction``; by default the centre crop's
  size) centred on the maximum of the target's Grad-CAM at ``views.gradcam_layer``,
  clamped inside the image.  Token layers (ViT blocks, Swin stages) are reshaped to
  (n, c, h, w) for it (:meth:`conceptlens.models.layouts.LayerLayout.gradcam_reshape`).

The files of views (boxes, Grad-CAM maps): :mod:`conceptlens.io.views`.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from conceptlens.activations import captured_layers, store_batch
from conceptlens.progress import progress_batches

VIEWS = ("full", "center", "gradcam")


def full_boxes(n_images: int, width: int, height: int) -> np.ndarray:
    """(n, 4) int boxes covering whole images of ``width`` x ``height``."""
    return np.tile(np.array([0, 0, width, height], dtype=np.int64), (n_images, 1))


def crop_side(width, height, fraction: float):
    """Side of a square crop that is ``fraction`` of the shorter image side (>= 1 px);
    scalars or arrays of per-image widths and heights."""
    if not 0 < fraction <= 1:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    side = np.maximum(1, np.round(fraction * np.minimum(width, height))).astype(np.int64)
    return int(side) if np.ndim(side) == 0 else side


def center_boxes(n_images: int, width: int, height: int, fraction: float) -> np.ndarray:
    """(n, 4) centred square crops of ``fraction`` of the shorter side."""
    return square_boxes(np.tile([width, height], (n_images, 1)), fraction)


def square_boxes(sizes: np.ndarray, fraction: float) -> np.ndarray:
    """(n, 4) centred square crops of ``fraction`` of each image's shorter side, for
    images of ``sizes`` (n, 2) width, height.  ``fraction`` 1 is the largest centred
    square (what a resize-shorter-side-then-centre-crop preprocess sees)."""
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    side = crop_side(sizes[:, 0], sizes[:, 1], fraction)
    x0, y0 = (sizes[:, 0] - side) // 2, (sizes[:, 1] - side) // 2
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1).astype(np.int64)


def boxes_around(peaks_xy: np.ndarray, side, width, height) -> np.ndarray:
    """Square windows of ``side`` px centred on ``peaks_xy`` (n, 2) pixel coordinates,
    shifted (not shrunk) to lie inside a ``width`` x ``height`` image. (n, 4) int.
    ``side``, ``width`` and ``height`` are scalars or per-image arrays (n,)."""
    side, width, height = (np.asarray(v, dtype=np.int64) for v in (side, width, height))
    if np.any(side > np.minimum(width, height)):
        raise ValueError(f"window side {side.max()} exceeds the image "
                         f"({width.min()} x {height.min()})")
    peaks = np.asarray(peaks_xy, dtype=np.float64).reshape(-1, 2)
    x0 = np.floor(peaks[:, 0] + 0.5 - side / 2).astype(np.int64)
    y0 = np.floor(peaks[:, 1] + 0.5 - side / 2).astype(np.int64)
    x0 = np.clip(x0, 0, width - side)
    y0 = np.clip(y0, 0, height - side)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


def peaks_in_image(peaks_xy: np.ndarray, boxes: np.ndarray, input_size: int) -> np.ndarray:
    """Pixel centres ``peaks_xy`` (n, 2) of a model input of ``input_size`` px that showed
    each image's crop ``boxes`` (n, 4) -> the same points in image pixels (n, 2)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scale = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1) / input_size
    return boxes[:, :2] + (np.asarray(peaks_xy, dtype=np.float64) + 0.5) * scale - 0.5


def crop_resize(images: torch.Tensor, boxes: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """Crop ``boxes`` (n, 4) out of float ``images`` (n, c, h, w), then resize each crop to
    ``size`` x ``size`` (bilinear, antialiased), as cropping a file and resizing it would.

    Batched: crops of equal size are gathered with one indexing operation per size.
    """
    boxes_np = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if len(boxes_np) != len(images):
        raise ValueError(f"{len(boxes_np)} boxes for {len(images)} images")
    out = torch.empty(len(images), images.shape[1], size, size, dtype=images.dtype,
                      device=images.device)
    sizes = np.stack([boxes_np[:, 2] - boxes_np[:, 0], boxes_np[:, 3] - boxes_np[:, 1]], axis=1)
    for w, h in np.unique(sizes, axis=0):
        sel = np.flatnonzero((sizes[:, 0] == w) & (sizes[:, 1] == h))
        idx = torch.as_tensor(sel, device=images.device)
        rows = torch.as_tensor(boxes_np[sel, 1:2] + np.arange(h), device=images.device)
        cols = torch.as_tensor(boxes_np[sel, 0:1] + np.arange(w), device=images.device)
        crops = images.permute(0, 2, 3, 1)[idx[:, None, None], rows[:, :, None], cols[:, None, :]]
        crops = crops.permute(0, 3, 1, 2)
        if (h, w) != (size, size):
            crops = nn.functional.interpolate(crops, size=(size, size), mode="bilinear",
                                              align_corners=False, antialias=True)
        out[idx] = crops
    return out


@functools.cache
def _gradcam_with_maps() -> type:
    """pytorch-grad-cam's GradCAM that also keeps the low-resolution maps it computes.

    Defined on first use: pytorch-grad-cam takes about 3 s to import, and most jobs that
    read views (boxes, crops) never compute a Grad-CAM.
    """
    from pytorch_grad_cam import GradCAM

    class GradCAMWithMaps(GradCAM):
        low_res: np.ndarray | None = None

        def get_cam_image(self, *args, **kwargs) -> np.ndarray:
            cam = super().get_cam_image(*args, **kwargs)
            self.low_res = np.maximum(cam, 0)
            return cam

    return GradCAMWithMaps


@contextlib.contextmanager
def backward_from(model: nn.Module, layer: nn.Module):
    """Backward passes of ``model`` start at ``layer``'s output: every parameter is frozen
    and the layer's output becomes a fresh leaf that requires grad, so nothing below the
    layer is recorded for autograd.  The gradients of anything computed from that output
    (Grad-CAM's) are unchanged; the backward costs the layers above it only (for layer4 of a
    ResNet, almost nothing).  Parameters' ``requires_grad`` flags are restored on exit."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]

    def restart_graph(module: nn.Module, args, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"Grad-CAM layer {type(module).__name__} returns "
                            f"{type(output).__name__}, not a tensor")
        return output.detach().requires_grad_(True).clone()  # clone: in-place ops stay legal

    for p in params:
        p.requires_grad_(False)
    handle = layer.register_forward_hook(restart_graph, prepend=True)
    try:
        yield
    finally:
        handle.remove()
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


def module_name(model: nn.Module, module: nn.Module) -> str:
    """The name of ``module`` inside ``model`` (an error when it is not one of its)."""
    name = next((n for n, m in model.named_modules() if m is module), None)
    if name is None:
        raise ValueError(f"{type(module).__name__} is not a module of {type(model).__name__}")
    return name


def gradcam_reshape(model: nn.Module, target_layer: nn.Module
                    ) -> Callable[[torch.Tensor], torch.Tensor]:
    """pytorch-grad-cam's ``reshape_transform`` for ``target_layer``: its activations and
    gradients as (n, c, h, w) (conv maps unchanged; ViT patch tokens on their grid, the
    prefix tokens dropped; Swin maps channels-first)."""
    from conceptlens.models.layouts import layer_layout

    return layer_layout(model, module_name(model, target_layer)).gradcam_reshape


def gradcam_maps(model: nn.Module, target_layer: nn.Module, inputs: torch.Tensor,
                 labels: np.ndarray | None = None,
                 reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of ``model`` at ``target_layer`` for a batch ``inputs`` (n, 3, h, w).

    The target class is the predicted one, or ``labels`` (n,) when given.  The backward
    pass starts at the layer (:func:`backward_from`).  ``reshape_transform``: the layer's
    output as (n, c, h, w) (default: from its layout, :func:`gradcam_reshape`).  Returns
    (maps at input resolution (n, h, w) in [0, 1], low-resolution maps (n, h', w')
    at the layer's resolution, each scaled to max 1).
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = None if labels is None else [ClassifierOutputTarget(int(c)) for c in labels]
    reshape = reshape_transform or gradcam_reshape(model, target_layer)
    with (backward_from(model, target_layer),
          _gradcam_with_maps()(model=model, target_layers=[target_layer],
                               reshape_transform=reshape) as cam):
        full = cam(input_tensor=inputs, targets=targets)
        low = cam.low_res
    peak = low.reshape(len(low), -1).max(axis=1).reshape(-1, 1, 1)
    low = np.where(peak > 0, low / np.where(peak > 0, peak, 1), 0.0)
    return full.astype(np.float32), low.astype(np.float32)


def map_peaks(maps: np.ndarray, scale_x: float = 1.0, scale_y: float = 1.0) -> np.ndarray:
    """(n, 2) x, y pixel coordinates of each map's maximum, scaled by the given factors;
    a map without signal (all zero) points at its centre."""
    n, h, w = maps.shape
    flat = maps.reshape(n, -1)
    idx = flat.argmax(axis=1)
    ys, xs = np.divmod(idx, w)
    empty = flat.max(axis=1) <= 0
    xs = np.where(empty, (w - 1) / 2, xs).astype(np.float64)
    ys = np.where(empty, (h - 1) / 2, ys).astype(np.float64)
    return np.stack([xs * scale_x, ys * scale_y], axis=1)


def map_centroids(maps: np.ndarray, share: float = 0.5) -> np.ndarray:
    """(n, 2) x, y pixel coordinates of the centroid of each map's peak region: the map
    above ``share`` of its maximum, weighted by its excess over that level (a sub-pixel
    peak of a coarse Grad-CAM, whose upsampled maximum sits on a cell centre); a map
    without signal points at its centre."""
    n, h, w = maps.shape
    maps = np.asarray(maps, dtype=np.float64)
    excess = np.clip(maps - share * maps.max(axis=(1, 2), keepdims=True), 0, None)
    mass = excess.sum(axis=(1, 2))
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (excess.sum(axis=1) @ xs) / mass
        cy = (excess.sum(axis=2) @ ys) / mass
    empty = ~(mass > 0)
    return np.stack([np.where(empty, (w - 1) / 2, cx), np.where(empty, (h - 1) / 2, cy)],
                    axis=1)


#: how a Grad-CAM window's centre is found (config key views.gradcam_peak)
GRADCAM_PEAKS = {"max": map_peaks, "centroid": map_centroids}


def view_batches(images: np.ndarray, boxes: np.ndarray, size: int, batch_size: int,
                 indices: np.ndarray | None = None):
    """Yield float (b, 3, size, size) tensors in [0, 1]: the view of uint8 ``images``
    (n, h, w, 3) given by ``boxes`` (n, 4), for all images or only ``indices``."""
    order = np.arange(len(images)) if indices is None else np.asarray(indices)
    for start in range(0, len(order), batch_size):
        sel = order[start:start + batch_size]
        x = torch.from_numpy(images[sel]).permute(0, 3, 1, 2).float() / 255.0
        yield crop_resize(x, boxes[sel], size)


class ViewDataset(torch.utils.data.Dataset):
    """Images of a view, read from files one at a time (:func:`conceptlens.images.load_rgb`:
    a file that cannot be decoded is an error naming it, from a loader's worker too): crop
    each image's box and resize the crop to ``size`` x ``size`` (PIL bilinear,
    antialiased). Items are float tensors (3, size, size) in [0, 1]; the probe set is never
    held in memory."""

    def __init__(self, files: list, boxes: np.ndarray, size: int):
        if len(files) != len(boxes):
            raise ValueError(f"{len(files)} image files but {len(boxes)} boxes")
        self.files, self.boxes, self.size = list(files), np.asarray(boxes), size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        from conceptlens.images import load_rgb

        crop = load_rgb(self.files[i], what="probe image").crop(
            tuple(int(v) for v in self.boxes[i]))
        if crop.size != (self.size, self.size):
            crop = crop.resize((self.size, self.size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(crop).copy()).permute(2, 0, 1).float() / 255.0


def view_loader(files: list, boxes: np.ndarray, size: int, batch_size: int, workers: int,
                indices: np.ndarray | None = None) -> torch.utils.data.DataLoader:
    """Batched, ordered DataLoader over a view (all images or only ``indices``)."""
    dataset: torch.utils.data.Dataset = ViewDataset(files, boxes, size)
    if indices is not None:
        dataset = torch.utils.data.Subset(dataset, [int(i) for i in indices])
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                       num_workers=workers, pin_memory=torch.cuda.is_available())


def gradcam_boxes(model: nn.Module, target_layer: nn.Module, preprocess, files: list,
                  sizes: np.ndarray, fraction: float, batch_size: int, workers: int,
                  device: torch.device, labels: np.ndarray | None = None,
                  record: dict[str, np.ndarray] | None = None, reduction: str = "mean",
                  tokens: str = "mean", peak: str = "max"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Grad-CAM view of images ``files`` of ``sizes`` (n, 2) width, height: Grad-CAM on
    the full view (streamed), then a square of ``fraction`` of the shorter side around each
    map's maximum (``peak="max"``, the paper's) or the centroid of its peak region
    (``"centroid"``, :func:`map_centroids`), clamped inside the image.  ``preprocess``: the target's
    (``input_size``, ``normalize``); ``labels`` (n,): target classes (None = predicted).

    ``record``: layer name -> a preallocated (n, n_neurons) array, filled with the full
    view's activations (``reduction`` over space, ``tokens`` over a token layer's patches)
    from the Grad-CAM's own forward pass, in float32: the full view's activations without a
    second pass over the images.  A Grad-CAM that is zero on every image (a ViT's last
    block: the class depends on the class token only) is a warning; its windows are
    centred.

    Returns (boxes (n, 4) int, peaks (n, 2) float image px, low-resolution maps (n, h', w')
    float16).
    """
    full = square_boxes(sizes, 1.0)
    peaks, low_maps, start = [], [], 0
    reshape = gradcam_reshape(model, target_layer)
    with captured_layers(model, list(record or {}), reduction, tokens) as captured:
        loader = view_loader(files, full, preprocess.input_size, batch_size, workers)
        for x in progress_batches(loader, total=len(files), desc="Grad-CAM, full view"):
            x = preprocess.normalize(x.to(device))
            batch_labels = None if labels is None else labels[start:start + len(x)]
            maps, low = gradcam_maps(model, target_layer, x, batch_labels, reshape)
            peaks.append(GRADCAM_PEAKS[peak](maps))
            low_maps.append(low.astype(np.float16))
            if record:
                store_batch(captured, start, record)
            start += len(x)
    if start and not any(m.any() for m in low_maps):
        warnings.warn(f"the Grad-CAM at layer {module_name(model, target_layer)} is zero on "
                      "every image, so the Grad-CAM windows are centred: the prediction does "
                      "not depend on that layer's spatial maps (a ViT's last block feeds the "
                      "class token only: take a layer before its attention, e.g. "
                      "encoder.layers.encoder_layer_11.ln_1 or blocks.11.norm1), or the "
                      "classifier is untrained (torchvision initialises a ViT's head to "
                      "zeros)", stacklevel=2)
    peaks_xy = peaks_in_image(np.concatenate(peaks), full, preprocess.input_size)
    side = crop_side(sizes[:, 0], sizes[:, 1], fraction)
    return (boxes_around(peaks_xy, side, sizes[:, 0], sizes[:, 1]), peaks_xy,
            np.concatenate(low_maps))
