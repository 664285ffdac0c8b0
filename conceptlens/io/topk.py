"""Top-k sets: ``topk/<view>/<layer>.npz`` with ``indices`` int32 (n_neurons, k), the
probe image ids of each neuron's k most activating images (best first), and ``values``
float16 (n_neurons, k), their activations."""

from __future__ import annotations

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_savez


def save_topk(path: PathLike, indices: np.ndarray, values: np.ndarray) -> None:
    """Write a top-k file (atomic)."""
    if indices.shape != values.shape:
        raise ValueError(f"top-k indices {indices.shape} and values {values.shape} differ")
    atomic_savez(path, indices=indices.astype(np.int32), values=values.astype(np.float16))


def load_topk(path: PathLike, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n_neurons, k) int64, values float32), the first ``k`` columns if given."""
    with np.load(path) as data:
        missing = {"indices", "values"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a top-k file, missing {sorted(missing)}")
        indices, values = data["indices"].astype(np.int64), data["values"].astype(np.float32)
    if k is not None:
        if k > indices.shape[1]:
            raise ValueError(f"{path}: holds the top {indices.shape[1]} images, {k} asked for")
        indices, values = indices[:, :k], values[:, :k]
    return indices, values
