"""Files of ConVis maps (numpy only: the report reads them without torch or CLIP)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def to_uint8(maps: np.ndarray) -> np.ndarray:
    """Maps in [0, 1] -> uint8 0..255 (rounded)."""
    return np.clip(np.round(np.asarray(maps, dtype=np.float32) * 255), 0, 255).astype(np.uint8)


def save_maps(path: str | os.PathLike, layer: Sequence[str], unit: Sequence[int],
              image_id: Sequence[int], concept: Sequence[str], maps: np.ndarray) -> None:
    """Write neuron maps: npz with ``layer`` (n,) str, ``unit`` (n,) int, ``image_id`` (n,)
    int, ``concept`` (n,) str and ``maps`` (n, H, W) uint8 (0-255 = 0-1); atomic write."""
    maps = np.asarray(maps)
    n = len(maps)
    for name, values in (("layer", layer), ("unit", unit), ("image_id", image_id), ("concept", concept)):
        if len(values) != n:
            raise ValueError(f"save_maps: {name} has {len(values)} entries for {n} maps")
    if maps.dtype != np.uint8:
        maps = to_uint8(maps)
    if n == 0 and maps.ndim != 3:
        maps = np.zeros((0, 0, 0), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, layer=np.asarray(list(layer), dtype=str),
                        unit=np.asarray(unit, dtype=np.int64), image_id=np.asarray(image_id, dtype=np.int64),
                        concept=np.asarray(list(concept), dtype=str), maps=maps)
    os.replace(tmp, path)


def load_maps(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file of :func:`save_maps`: dict of its arrays (``maps`` uint8; / 255 for [0, 1])."""
    with np.load(path) as data:
        missing = {"layer", "unit", "image_id", "concept", "maps"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a ConVis maps file, missing {sorted(missing)}")
        return {k: data[k] for k in data.files}


def save_localisation_maps(path: str | os.PathLike, image_id: np.ndarray, boxes: np.ndarray,
                           attributes: Sequence[str], concepts: np.ndarray, maps: np.ndarray,
                           valid: np.ndarray) -> None:
    """Write the maps of a localisation run: npz with ``image_id`` (n,), ``box`` (n, 4),
    ``attribute`` (a,) str, ``concept`` (a, n) str, ``valid`` (a, n) bool (False where the
    concept is not in the hierarchy; its map is then 0) and ``maps`` (a, n, H, W) uint8
    (0-255 = 0-1); atomic write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, image_id=np.asarray(image_id, dtype=np.int64),
                        box=np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
                        attribute=np.asarray(list(attributes), dtype=str),
                        concept=np.asarray(concepts, dtype=str), valid=np.asarray(valid, dtype=bool),
                        maps=to_uint8(maps))
    os.replace(tmp, path)
