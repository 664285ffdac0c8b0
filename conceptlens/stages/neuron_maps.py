"""Stage of rule ``neuron_maps``: each neuron's activation map on its top images of the full
view, for the explorer's overlays (:mod:`conceptlens.neuron_maps`).

The top images are each neuron's ``n_top`` most activating probe images on the full view
(:func:`conceptlens.topk.topk_images` of ``activations/full/<layer>.npz``: the same order
as the pass' top-k sets).  The target runs once over the union of those images, on the
full view (the whole image resized, as the target's pass shows it), every layer hooked at
once; each batch's maps are gathered for the (neuron, rank) pairs whose image it holds, so
no more than one batch of a layer's (b, c, h, w) maps is held at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def top_images(activations_files: Mapping[str, str | Path], layers: Sequence[str], n_top: int
               ) -> dict[str, np.ndarray]:
    """Layer -> (n_neurons, n_top) probe ids of each neuron's top images on the full view,
    best first (``n_top`` capped at the number of probe images)."""
    from conceptlens.io.activations import load_activations
    from conceptlens.topk import topk_images

    if n_top < 1:
        raise ValueError(f"n_top must be >= 1, got {n_top}")
    tops = {}
    for layer in layers:
        if layer not in activations_files:
            raise ValueError(f"no activations file for layer {layer}")
        acts, _ = load_activations(activations_files[layer])
        tops[layer] = topk_images(acts, min(n_top, len(acts)))[0]
    return tops


def neuron_maps(split: str | Path, attributes: pd.DataFrame, target_spec: Mapping,
                layers: Sequence[str], activations_files: Mapping[str, str | Path], n_top: int,
                batch_size: int = 64, workers: int = 0, device: str = "auto",
                precision: str = "float32", tokens: str = "mean",
                image_size: int | None = None, log: logging.Logger | None = None,
                loaded: tuple | None = None
                ) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Each neuron's map on each of its top images, per layer.

    ``split``, ``attributes``: the probe set (files relative to ``split``); ``target_spec``:
    a :func:`conceptlens.models.zoo.load_target` spec (``loaded``: the target already
    loaded, as ``load_target`` returns it); ``activations_files``: layer ->
    ``activations/full/<layer>.npz``.  ``tokens`` (``target.tokens``) ranked the top images
    of a token layer; the maps are its patch tokens whatever it is (a class token has no
    place on the grid).  ``image_size``: the probe images' side when the index has no
    sizes (the world).

    Returns layer -> (indices (n_neurons, n_top) int64 probe ids, maps (n_neurons, n_top,
    h, w) float16 at the layer's resolution, or None for a layer without spatial extent).
    """
    import torch

    from conceptlens.devices import precision_context, resolve_device
    from conceptlens.io.probe import probe_files, probe_sizes
    from conceptlens.models.layouts import TOKEN_REDUCTIONS, layer_layouts
    from conceptlens.models.zoo import check_layers, load_target, target_preprocess
    from conceptlens.neuron_maps import captured_maps, gather_maps, spatial_shapes
    from conceptlens.progress import progress_batches
    from conceptlens.views import square_boxes, view_loader

    log = log or logging.getLogger(__name__)
    if tokens not in TOKEN_REDUCTIONS:
        raise ValueError(f"config key target.tokens: {tokens!r} (valid: "
                         f"{', '.join(TOKEN_REDUCTIONS)})")
    layers = list(layers)
    tops = top_images(activations_files, layers, n_top)
    torch_device = resolve_device(device)
    model, _ = loaded or load_target(target_spec, torch_device)
    check_layers(model, layers, "layers")
    preprocess = target_preprocess(target_spec)
    layouts = layer_layouts(model, layers)
    shapes = spatial_shapes(model, layers, preprocess.input_size, torch_device)
    spatial = [name for name in layers if shapes[name] is not None]
    for name in spatial:
        if shapes[name][0] != tops[name].shape[0]:
            raise ValueError(f"layer {name}: {shapes[name][0]} channels but "
                             f"{tops[name].shape[0]} neurons in {activations_files[name]}")
    maps = {name: np.zeros((*tops[name].shape, *shapes[name][1:]), np.float16)
            for name in spatial}
    if not spatial:
        log.info("no layer with spatial extent among %s: no maps", ", ".join(layers))
        return {name: (tops[name], None) for name in layers}

    union = np.unique(np.concatenate([tops[name].ravel() for name in spatial]))
    # each (neuron, rank) pair by its image's position in the union, in that order
    plans = {}
    for name in spatial:
        pos = np.searchsorted(union, tops[name].ravel())
        order = np.argsort(pos, kind="stable")
        plans[name] = pos[order], order
    files = probe_files(split, attributes)
    boxes = square_boxes(probe_sizes(attributes, split, image_size), 1.0)
    loader = view_loader(files, boxes, preprocess.input_size, batch_size, workers,
                         indices=union)
    start = 0
    with (captured_maps(model, spatial, layouts) as captured, torch.no_grad(),
          precision_context(precision, torch_device)):
        for x in progress_batches(loader, total=len(union), desc="neuron maps, top images",
                                  log=log):
            captured.clear()
            model(preprocess.normalize(x.to(torch_device, non_blocking=True)))
            end = start + len(x)
            for name in spatial:
                sorted_pos, order = plans[name]
                lo, hi = np.searchsorted(sorted_pos, [start, end])
                pairs = order[lo:hi]
                neurons, ranks = np.divmod(pairs, tops[name].shape[1])
                gathered = gather_maps(captured[name], sorted_pos[lo:hi] - start, neurons)
                maps[name][neurons, ranks] = gathered.cpu().numpy()
            start = end
    log.info("maps of the top %d images of each neuron (%d images): %s",
             tops[layers[0]].shape[1], len(union),
             ", ".join(f"{name} {shapes[name][1]}x{shapes[name][2]}" if shapes[name]
                       else f"{name} (none)" for name in layers))
    return {name: (tops[name], maps.get(name)) for name in layers}
