"""Stages of rules ``activations`` and ``topk``: the target's pass over the probe set.

For each view (full, center, gradcam): the crop boxes of every probe image, the
activations of the recorded layers of the target on those crops and the top-k activating
images of each neuron of the described layers.  The workflow takes the top-k sets from
the saved activations in a job of their own (:func:`topk_files`), so that a change of k
re-runs that light job, not the pass; ``conceptlens describe`` takes them in the pass.  The Grad-CAM view's boxes come from a
Grad-CAM on the full view (its low-resolution maps are kept).  The target loads once.

Images are streamed from their files; each layer's (n_images, n_neurons) matrix is the
only thing kept, spatially reduced and as float16 (the precision it is stored in), e.g.
50,000 x 2,048 = 200 MB for layer4; with ``scratch`` the matrices are disk-backed, so
memory stays one batch whatever the probe size.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

VIEWS = ("full", "center", "gradcam")


@dataclass(frozen=True)
class TargetPassSettings:
    """What the pass records.

    ``layers``: view -> layers recorded on it; ``topk_layers``: the layers whose top-k
    sets are taken; ``k``: view -> top-k size (0: none); ``center_fraction``: the centre
    crop's side as a fraction of the shorter image side; ``gradcam_fraction``: the
    Grad-CAM window's (None: the centre crop's), centred on the map's maximum or its peak
    region's centroid (``gradcam_peak``: max, centroid); ``gradcam_target``: ``predicted`` or
    ``label`` (the probe's labels; the world: each image's main shape); ``reduction``:
    how a conv map becomes one value per channel (mean, max); ``tokens``: how a token
    output (ViT blocks, Swin stages) does (mean, max over the patch tokens, cls: the class
    token; config key ``target.tokens``).
    """

    layers: Mapping[str, Sequence[str]]
    topk_layers: Sequence[str] = ()
    k: Mapping[str, int] = field(default_factory=dict)
    center_fraction: float = 0.875
    gradcam_fraction: float | None = None
    gradcam_layer: str = "layer4"
    gradcam_target: str = "predicted"
    gradcam_peak: str = "max"
    reduction: str = "mean"
    tokens: str = "mean"
    batch_size: int = 64
    workers: int = 0
    precision: str = "float32"
    image_size: int | None = None

    @property
    def views(self) -> list[str]:
        return [view for view in VIEWS if view in self.layers]

    @classmethod
    def from_params(cls, params: Mapping) -> TargetPassSettings:
        """Settings from a rule's ``params.settings`` dict (the field names)."""
        return cls(**{k: v for k, v in dict(params).items()})


@dataclass
class TargetPass:
    """What the pass found: ``summary`` (``classes``, ``output_layer``, ``widths``: the
    target summary of :mod:`conceptlens.io.activations`), ``boxes`` view -> (n, 4),
    ``cams`` (low-resolution maps (n, h', w') float16, peaks (n, 2)) or None without the
    Grad-CAM view, ``activations`` view -> layer -> (n, n_neurons) float16 and ``topk``
    view -> layer -> (indices (n_neurons, k), values (n_neurons, k), and the same within
    the probe set's selection half, :func:`conceptlens.evidence.selection_half`)."""

    summary: dict
    boxes: dict[str, np.ndarray]
    cams: tuple[np.ndarray, np.ndarray] | None
    activations: dict[str, dict[str, np.ndarray]]
    topk: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]


def topk_sets(activations: np.ndarray, k: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A layer's top-k sets (indices, values), each (n_neurons, k), over every probe image
    and within the selection half (probe ids; k capped at the half's size).
    activations: (n_images, n_neurons)."""
    from conceptlens.evidence import selection_half
    from conceptlens.topk import topk_images

    half_ids = np.flatnonzero(selection_half(len(activations)))
    half_idx, half_values = topk_images(activations[half_ids], min(k, len(half_ids)))
    return (*topk_images(activations, k), half_ids[half_idx], half_values)


def gradcam_labels(attributes: pd.DataFrame, classes: list[str] | None) -> np.ndarray:
    """Class index of each probe image (the world: its main shape; else the index label)."""
    if "shape" in attributes.columns and classes:
        return np.array([classes.index(s) for s in attributes["shape"]])
    if "label" not in attributes.columns or (attributes["label"] < 0).any():
        raise ValueError("config key views.gradcam_target: 'label' needs a labelled probe set "
                         "(ImageNet); use 'predicted'")
    return attributes["label"].to_numpy()


def target_pass(split: str | Path, attributes: pd.DataFrame, target: Mapping,
                settings: TargetPassSettings, device: str = "auto",
                scratch: str | Path | None = None, log: logging.Logger | None = None,
                loaded: tuple | None = None, gradcam_peaks: np.ndarray | None = None
                ) -> TargetPass:
    """The target's pass over the probe images of ``attributes`` (files relative to
    ``split``), for the target ``target`` (a :func:`conceptlens.models.zoo.load_target`
    spec).  ``scratch``: a folder for disk-backed matrices (kept until the result is
    dropped); None holds them in memory.  ``loaded``: the target already loaded, as
    :func:`~conceptlens.models.zoo.load_target` returns it (model, class names).
    ``gradcam_peaks``: (n, 2) Grad-CAM peaks (image px) of an earlier pass: the Grad-CAM
    view's windows are placed around them without a Grad-CAM (the result has no ``cams``;
    the tuning job's window sweep)."""
    from conceptlens.activations import layer_widths, record_activations
    from conceptlens.devices import precision_context, resolve_device
    from conceptlens.ground_truth import output_layer_name
    from conceptlens.io.probe import probe_files, probe_sizes
    from conceptlens.models.zoo import check_layers, load_target, target_preprocess
    from conceptlens.progress import progress_batches
    from conceptlens.views import (
        boxes_around,
        crop_side,
        gradcam_boxes,
        square_boxes,
        view_loader,
    )

    log = log or logging.getLogger(__name__)
    files = probe_files(split, attributes)
    sizes = probe_sizes(attributes, split, settings.image_size)
    torch_device = resolve_device(device)
    model, classes = loaded or load_target(target, torch_device)
    preprocess = target_preprocess(target)
    views = settings.views
    all_layers = list(dict.fromkeys(name for view in views for name in settings.layers[view]))
    check_layers(model, all_layers, "layers")
    widths = layer_widths(model, all_layers, preprocess.input_size, torch_device,
                          settings.tokens)
    try:
        output_layer = output_layer_name(model)
    except ValueError:
        output_layer = None
    summary = {"classes": classes, "output_layer": output_layer, "widths": widths}

    def matrices(view: str) -> dict[str, np.ndarray]:
        """(n_images, width) float16 matrices of the view's layers, to be filled."""
        shapes = {name: (len(attributes), widths[name]) for name in settings.layers[view]}
        if scratch is None:
            return {name: np.zeros(shape, np.float16) for name, shape in shapes.items()}
        return {name: np.lib.format.open_memmap(Path(scratch) / f"{view}.{i}.npy", mode="w+",
                                                dtype=np.float16, shape=shape)
                for i, (name, shape) in enumerate(shapes.items())}

    # In float32, the Grad-CAM's forward pass over the full view records that view's
    # activations too (the same images, batches and precision): one pass less.
    record_full = ("gradcam" in views and "full" in views and gradcam_peaks is None
                   and settings.precision == "float32")
    acts = {"full": matrices("full")} if record_full else {}
    boxes = {"full": square_boxes(sizes, 1.0),
             "center": square_boxes(sizes, settings.center_fraction)}
    cams = None
    if "gradcam" in views and gradcam_peaks is not None:
        fraction = settings.gradcam_fraction or settings.center_fraction
        boxes["gradcam"] = boxes_around(gradcam_peaks, crop_side(sizes[:, 0], sizes[:, 1],
                                                                 fraction),
                                        sizes[:, 0], sizes[:, 1])
        log.info("Grad-CAM windows of %s of the shorter side around the given peaks", fraction)
    elif "gradcam" in views:
        fraction = settings.gradcam_fraction or settings.center_fraction
        labels = (gradcam_labels(attributes, classes)
                  if settings.gradcam_target == "label" else None)
        check_layers(model, [settings.gradcam_layer], "views.gradcam_layer")
        layer = dict(model.named_modules())[settings.gradcam_layer]
        boxes["gradcam"], peaks, low_maps = gradcam_boxes(
            model, layer, preprocess, files, sizes, fraction, settings.batch_size,
            settings.workers, torch_device, labels, record=acts.get("full"),
            reduction=settings.reduction, tokens=settings.tokens, peak=settings.gradcam_peak)
        cams = low_maps, peaks.astype(np.float32)
        log.info("Grad-CAM windows of %s of the shorter side around the %s of %s%s",
                 fraction, "maxima" if settings.gradcam_peak == "max" else "peak centroids",
                 settings.gradcam_layer,
                 " (its pass recorded the full view)" if "full" in acts else "")

    topk: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for view in views:
        layers = list(settings.layers[view])
        if view not in acts:
            acts[view] = matrices(view)
            loader = progress_batches(
                view_loader(files, boxes[view], preprocess.input_size, settings.batch_size,
                            settings.workers),
                total=len(files), desc=f"target pass, {view} view", log=log)
            batches = (preprocess.normalize(x.to(torch_device, non_blocking=True))
                       for x in loader)
            with precision_context(settings.precision, torch_device):
                record_activations(model, batches, layers, settings.reduction, torch_device,
                                   out=acts[view], tokens=settings.tokens)
        k = int(settings.k.get(view, 0))
        topk[view] = {name: topk_sets(acts[view][name], k)
                      for name in settings.topk_layers if k and name in layers}
        log.info("%s view: %d images, layers %s%s", view, len(attributes),
                 ", ".join(f"{name} ({widths[name]})" for name in layers),
                 f", top-{k}" if k else "")
    return TargetPass(summary, {v: boxes[v] for v in views}, cams, acts, topk)


def topk_files(activations: Sequence[str], topk: Sequence[str], k: Mapping[str, int],
               log: logging.Logger | None = None) -> None:
    """Write each top-k file ``topk/<view>/<layer>.npz`` of ``topk`` (:func:`topk_sets`
    with the view's ``k``) from the activations file of the same view and layer among
    ``activations`` (``activations/<view>/<layer>.npz``)."""
    from conceptlens.io.activations import load_activations
    from conceptlens.io.paths import parse_result_path
    from conceptlens.io.topk import save_topk

    by_view_layer = {}
    for path in activations:
        where = parse_result_path(path)
        by_view_layer[where.view, where.layer] = path
    for path in topk:
        where = parse_result_path(path)
        source = by_view_layer.get((where.view, where.layer))
        if source is None:
            raise ValueError(f"{path}: no activations of the {where.view} view's "
                             f"{where.layer} among the inputs")
        values, _ = load_activations(source)
        save_topk(path, *topk_sets(values, int(k[where.view])))
        if log:
            log.info("%s: top-%d of %d images for %d neurons", path, int(k[where.view]),
                     len(values), values.shape[1])


def save_target_pass(result: TargetPass, boxes: Sequence[str], cams: str | None,
                     activations: Sequence[str], topk: Sequence[str], target: str) -> None:
    """Write a pass through :mod:`conceptlens.io`: each output path (``views/<view>/
    boxes.parquet``, ``activations/<view>/<layer>.npz``, ``topk/<view>/<layer>.npz``;
    the workflow gives no top-k paths, :func:`topk_files` writes those) gets the array its
    path names; a path the pass has no array for is an error."""
    from conceptlens.io.activations import save_activations, save_target_summary
    from conceptlens.io.paths import parse_result_path
    from conceptlens.io.topk import save_topk
    from conceptlens.io.views import save_boxes, save_cams

    def lookup(table: Mapping, path: str, *keys: str):
        try:
            for key in keys:
                table = table[key]
        except KeyError:
            raise ValueError(f"{path}: the target's pass recorded no {'/'.join(keys)}") from None
        return table

    save_target_summary(target, result.summary["classes"], result.summary["output_layer"],
                        result.summary["widths"])
    for path in boxes:
        save_boxes(path, lookup(result.boxes, path, parse_result_path(path).view))
    if cams is not None:
        if result.cams is None:
            raise ValueError(f"{cams}: the target's pass computed no Grad-CAM")
        save_cams(cams, *result.cams)
    for path in activations:
        where = parse_result_path(path)
        save_activations(path, lookup(result.activations, path, where.view, where.layer))
    for path in topk:
        where = parse_result_path(path)
        save_topk(path, *lookup(result.topk, path, where.view, where.layer))
