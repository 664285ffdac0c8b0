"""The target's pass: activations and what the pass learnt of the target.

- ``activations/<view>/<layer>.npz``: ``activations`` (n_images, n_neurons) float16 and
  ``neuron_ids`` (n_neurons,);
- ``activations/target.json``: the target's class names (null when unknown), its
  classifier layer (null when it has none) and each recorded layer's width.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_path, atomic_write_text

TARGET_SUMMARY_KEYS = ("classes", "output_layer", "widths")


def save_activations(path: PathLike, activations: np.ndarray) -> None:
    """Write (n_images, n_neurons) activations as float16 with neuron ids (atomic)."""
    with atomic_path(path) as tmp:  # a float16 memmap is written in chunks, not copied
        np.savez(tmp, activations=activations.astype(np.float16, copy=False),
                 neuron_ids=np.arange(activations.shape[1]))


def load_activations(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(activations (n_images, n_neurons) float32, neuron_ids (n_neurons,))."""
    with np.load(path) as data:
        missing = {"activations", "neuron_ids"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not an activations file, missing {sorted(missing)}")
        return data["activations"].astype(np.float32), data["neuron_ids"]


def save_target_summary(path: PathLike, classes: Sequence[str] | None,
                        output_layer: str | None, widths: Mapping[str, int]) -> None:
    """Write ``activations/target.json`` (atomic)."""
    summary = {"classes": None if classes is None else [str(c) for c in classes],
               "output_layer": output_layer,
               "widths": {str(k): int(v) for k, v in widths.items()}}
    atomic_write_text(path, json.dumps(summary, indent=1) + "\n")


def load_target_summary(path: PathLike) -> dict:
    """Read a file of :func:`save_target_summary`; a file without its fields is an error
    naming it."""
    summary = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = set(TARGET_SUMMARY_KEYS) - set(summary)
    if missing:
        raise ValueError(f"{path}: not a target summary, missing {sorted(missing)}")
    return summary
