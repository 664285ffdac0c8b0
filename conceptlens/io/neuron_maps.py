"""Neuron maps: ``report/neuron_maps/<layer>.npz`` with ``indices`` int32 (n_neurons, n_top),
the probe image ids of each neuron's top images on the full view (best first), and
``maps`` float16 (n_neurons, n_top, h, w), the neuron's activation map on each of them at
the layer's resolution; without ``maps`` for a layer that has no spatial extent (fc)."""

from __future__ import annotations

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_savez


def save_neuron_maps(path: PathLike, indices: np.ndarray, maps: np.ndarray | None) -> None:
    """Write a neuron-maps file (atomic); ``maps`` None: the layer has no spatial extent."""
    indices = np.asarray(indices)
    if indices.ndim != 2:
        raise ValueError(f"neuron-map indices must be (n_neurons, n_top), got {indices.shape}")
    arrays = {"indices": indices.astype(np.int32)}
    if maps is not None:
        if maps.ndim != 4 or maps.shape[:2] != indices.shape:
            raise ValueError(f"neuron maps {maps.shape} do not fit indices {indices.shape} "
                             "(expected (n_neurons, n_top, h, w))")
        arrays["maps"] = maps.astype(np.float16, copy=False)
    atomic_savez(path, **arrays)


def load_neuron_maps(path: PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """(indices (n_neurons, n_top) int64, maps (n_neurons, n_top, h, w) float32 or None)."""
    with np.load(path) as data:
        if "indices" not in data.files:
            raise ValueError(f"{path}: not a neuron-maps file, missing ['indices']")
        indices = data["indices"].astype(np.int64)
        maps = data["maps"].astype(np.float32) if "maps" in data.files else None
    return indices, maps
