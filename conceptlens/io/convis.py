"""ConVis files: the report neurons' maps and the localisation run.

- ``convis/neuron_maps.npz``: ``layer`` (n,) str, ``unit`` (n,) int, ``image_id`` (n,)
  int, ``concept`` (n,) str and ``maps`` (n, H, W) uint8 (0-255 = 0-1); and the neurons
  without maps, one entry each: ``missing_layer`` (m,) str, ``missing_unit`` (m,) int,
  ``missing_concept`` (m,) str, ``missing_reason`` (m,) str (files written before these
  existed lack them: read as none missing);
- ``convis/localisation_maps.npz``: ``image_id`` (n,), ``box`` (n, 4), ``attribute`` (a,)
  str, ``concept`` (a, n) str, ``valid`` (a, n) bool (False where the concept is not in
  the hierarchy; its map is then 0) and ``maps`` (a, n, H, W) uint8;
- ``convis/localisation.csv`` / ``.json``: pointing game and energy share (with standard
  errors) per method and attribute; the JSON adds the images, timings and settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_savez, atomic_to_csv, atomic_write_json
from conceptlens.io.frames import read_table

if TYPE_CHECKING:
    import pandas as pd

MAP_FIELDS = ("layer", "unit", "image_id", "concept", "maps")
MISSING_FIELDS = ("layer", "unit", "concept", "reason")
"""Fields of a neuron without maps (``missing_<field>`` arrays of a maps file)."""
LOCALISATION_COLUMNS = ("method", "attribute", "pointing", "pointing_se", "energy_share",
                        "energy_share_se", "images")


def to_uint8(maps: np.ndarray) -> np.ndarray:
    """Maps in [0, 1] -> uint8 0..255 (rounded)."""
    return np.clip(np.round(np.asarray(maps, dtype=np.float32) * 255), 0, 255).astype(np.uint8)


def save_maps(path: PathLike, layer: Sequence[str], unit: Sequence[int],
              image_id: Sequence[int], concept: Sequence[str], maps: np.ndarray,
              missing: Sequence[Mapping[str, Any]] = ()) -> None:
    """Write neuron maps, one per (layer, unit, image_id, concept) entry, and the neurons
    without maps (``missing``: mappings with layer, unit, concept and reason) (atomic)."""
    maps = np.asarray(maps)
    n = len(maps)
    for name, values in (("layer", layer), ("unit", unit), ("image_id", image_id),
                         ("concept", concept)):
        if len(values) != n:
            raise ValueError(f"save_maps: {name} has {len(values)} entries for {n} maps")
    if maps.dtype != np.uint8:
        maps = to_uint8(maps)
    if n == 0 and maps.ndim != 3:
        maps = np.zeros((0, 0, 0), dtype=np.uint8)
    for k, entry in enumerate(missing):
        absent = [f for f in MISSING_FIELDS if f not in entry]
        if absent:
            raise ValueError(f"save_maps: missing entry {k} has no {', '.join(absent)}")
    missing_arrays = {
        f"missing_{f}": (np.asarray([int(e[f]) for e in missing], dtype=np.int64)
                         if f == "unit" else np.asarray([str(e[f]) for e in missing], dtype=str))
        for f in MISSING_FIELDS}
    atomic_savez(path, compressed=True, layer=np.asarray(list(layer), dtype=str),
                 unit=np.asarray(unit, dtype=np.int64),
                 image_id=np.asarray(image_id, dtype=np.int64),
                 concept=np.asarray(list(concept), dtype=str), maps=maps, **missing_arrays)


def load_maps(path: PathLike) -> dict[str, np.ndarray]:
    """Read a file of :func:`save_maps`: its arrays (``maps`` uint8; / 255 for [0, 1])."""
    with np.load(path) as data:
        missing = set(MAP_FIELDS) - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a ConVis maps file, missing {sorted(missing)}")
        return {k: data[k] for k in data.files}


def read_neuron_maps(path: PathLike) -> dict[tuple[str, int, int], np.ndarray]:
    """A file of :func:`save_maps` as {(layer, unit, image_id): map (H, W) float32 in
    [0, 1]}."""
    data = load_maps(path)
    layers, units, ids, maps = (data[k] for k in ("layer", "unit", "image_id", "maps"))
    if len(layers) and (maps.ndim != 3 or len(maps) != len(layers)):
        raise ValueError(f"{path}: maps must be (n, H, W) with n = {len(layers)}, "
                         f"got {maps.shape}")
    scale = 255.0 if maps.dtype == np.uint8 else 1.0
    return {(str(layer), int(unit), int(i)): maps[k].astype(np.float32) / scale
            for k, (layer, unit, i) in enumerate(zip(layers, units, ids))}


def read_missing_maps(path: PathLike) -> dict[tuple[str, int], str]:
    """The neurons of a file of :func:`save_maps` that have no maps, as {(layer, unit):
    reason}; {} for a file written before reasons were recorded."""
    data = load_maps(path)
    if not all(f"missing_{f}" in data for f in MISSING_FIELDS):
        return {}
    return {(str(layer), int(unit)): str(reason) for layer, unit, reason in
            zip(data["missing_layer"], data["missing_unit"], data["missing_reason"])}


def save_localisation_maps(path: PathLike, image_id: np.ndarray, boxes: np.ndarray,
                           attributes: Sequence[str], concepts: np.ndarray, maps: np.ndarray,
                           valid: np.ndarray) -> None:
    """Write the maps of a localisation run (atomic)."""
    atomic_savez(path, compressed=True, image_id=np.asarray(image_id, dtype=np.int64),
                 box=np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
                 attribute=np.asarray(list(attributes), dtype=str),
                 concept=np.asarray(concepts, dtype=str), valid=np.asarray(valid, dtype=bool),
                 maps=to_uint8(maps))


def save_localisation(table: pd.DataFrame, csv: PathLike, json_path: PathLike,
                      about: Mapping[str, Any]) -> None:
    """The localisation table as CSV and as JSON ``{"table": [records], **about}`` (NaN as
    null; atomic)."""
    import json

    atomic_to_csv(table, csv)
    atomic_write_json(json_path, {"table": json.loads(table.to_json(orient="records")),
                                  **about}, strict=False)


def read_localisation(path: PathLike) -> pd.DataFrame:
    """``convis/localisation.csv``, checked for its columns."""
    frame = read_table(path, LOCALISATION_COLUMNS, "localisation table")
    return frame
