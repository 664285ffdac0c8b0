"""Top-k sets: ``topk/<view>/<layer>.npz`` with ``indices`` int32 (n_neurons, k), the
probe image ids of each neuron's k most activating images (best first), and ``values``
float16 (n_neurons, k), their activations; ``half_indices`` and ``half_values``: the same
within the selection half of the probe set only (:func:`conceptlens.evidence.selection_half`),
which the evidence stage chooses descriptions on again."""

from __future__ import annotations

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_savez


def save_topk(path: PathLike, indices: np.ndarray, values: np.ndarray,
              half_indices: np.ndarray, half_values: np.ndarray) -> None:
    """Write a top-k file (atomic): the top-k sets over the probe set and within its
    selection half."""
    for name, (i, v) in {"top-k": (indices, values), "half top-k": (half_indices,
                                                                    half_values)}.items():
        if i.shape != v.shape:
            raise ValueError(f"{name} indices {i.shape} and values {v.shape} differ")
    atomic_savez(path, indices=indices.astype(np.int32), values=values.astype(np.float16),
                 half_indices=half_indices.astype(np.int32),
                 half_values=half_values.astype(np.float16))


def load_topk(path: PathLike, k: int | None = None, half: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n_neurons, k) int64, values float32), the first ``k`` columns if given;
    ``half``: the top-k sets within the selection half."""
    prefix = "half_" if half else ""
    with np.load(path) as data:
        missing = {f"{prefix}indices", f"{prefix}values"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a top-k file, missing {sorted(missing)}")
        indices = data[f"{prefix}indices"].astype(np.int64)
        values = data[f"{prefix}values"].astype(np.float32)
    if k is not None:
        if k > indices.shape[1]:
            raise ValueError(f"{path}: holds the top {indices.shape[1]} images, {k} asked for")
        indices, values = indices[:, :k], values[:, :k]
    return indices, values
