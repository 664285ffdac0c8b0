"""Atomic writes: an output either appears complete or not at all.

Every file a stage hands to another is written through :func:`atomic_path`: the data go to
a temporary file beside the target (same suffix, so libraries that pick a format by suffix
still do), which replaces the target only once it is complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

PathLike = str | os.PathLike


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A temporary path next to ``path`` (same suffix) that replaces it on success and is
    removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` (atomic)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` (atomic)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def jsonable(x: Any) -> Any:
    """``x`` with numpy scalars as Python numbers and NaN / infinity / pd.NA as None."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if type(x).__name__ == "NAType":  # pandas.NA, without importing pandas
        return None
    return x


def atomic_write_json(path: PathLike, obj: Any, indent: int = 2, strict: bool = True) -> None:
    """JSON of ``obj`` plus a newline (atomic).  ``strict``: NaN and infinities as null
    (:func:`jsonable`); otherwise ``obj`` is dumped as it is, with numpy floats as floats."""
    if strict:
        text = json.dumps(jsonable(obj), indent=indent, allow_nan=False)
    else:
        text = json.dumps(obj, indent=indent, default=float)
    atomic_write_text(path, text + "\n")


def atomic_savez(path: PathLike, compressed: bool = False, **arrays: np.ndarray) -> None:
    """``np.savez`` (or ``savez_compressed``) of ``arrays`` to ``path`` (atomic)."""
    with atomic_path(path) as tmp:
        (np.savez_compressed if compressed else np.savez)(tmp, **arrays)


def atomic_save_npy(path: PathLike, array: np.ndarray) -> None:
    """``np.save`` of ``array`` to ``path`` (atomic)."""
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def atomic_to_parquet(frame, path: PathLike) -> None:
    """A pandas frame as Parquet without its index (atomic)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def atomic_to_csv(frame, path: PathLike, **kwargs) -> None:
    """A pandas frame as CSV without its index (atomic); ``kwargs`` go to ``to_csv``."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **kwargs)
