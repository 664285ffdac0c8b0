"""A probe split folder: ``attributes.parquet`` (one row per image: ``image_id``, ``file``
relative to the folder or absolute, and, by source, ``width, height, label`` or the
world's planted attributes and object boxes), the world's ``images/`` and, for ImageNet,
``classes.txt`` (the wnids, one a line in label order)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_to_parquet, atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

ATTRIBUTES_FILE = "attributes.parquet"
CLASSES_FILE = "classes.txt"


def read_attributes(split_dir: PathLike) -> pd.DataFrame:
    """The split's index table; a folder without one is an error naming it."""
    import pandas as pd

    table = Path(split_dir) / ATTRIBUTES_FILE
    if not table.is_file():
        raise FileNotFoundError(f"probe split {split_dir}: no {ATTRIBUTES_FILE}")
    return pd.read_parquet(table)


def require_columns(attributes: pd.DataFrame, columns: Sequence[str], split_dir: PathLike
                    ) -> None:
    """An error naming the split's table and the columns it lacks, if any."""
    missing = [c for c in columns if c not in attributes.columns]
    if missing:
        raise ValueError(f"{Path(split_dir) / ATTRIBUTES_FILE}: missing columns {missing}")


def write_probe_index(directory: PathLike, table: pd.DataFrame,
                      classes: Sequence[str] = ()) -> None:
    """Write ``table`` as the split's index and, when given, the class list (atomic)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if classes:
        atomic_write_text(directory / CLASSES_FILE, "\n".join(classes) + "\n")
    atomic_to_parquet(table, directory / ATTRIBUTES_FILE)


def read_classes(split_dir: PathLike) -> list[str]:
    """The wnids of an ImageNet split in label order; other splits have none (an error)."""
    classes = Path(split_dir) / CLASSES_FILE
    if not classes.is_file():
        raise FileNotFoundError(f"{classes}: the probe set has no wnid class list (only "
                                "ImageNet probe sets have one)")
    return classes.read_text().split()


def probe_files(root: PathLike, attributes: pd.DataFrame) -> list[Path]:
    """Paths of the probe images (``file`` relative to ``root`` or absolute)."""
    return [Path(root) / str(f) for f in attributes["file"]]


def probe_sizes(attributes: pd.DataFrame, root: PathLike, default_size: int | None = None
                ) -> np.ndarray:
    """(n, 2) width, height of the probe images: the index's columns, else ``default_size``
    (the world's square images), else the files' headers."""
    if {"width", "height"} <= set(attributes.columns):
        return attributes[["width", "height"]].to_numpy(dtype=np.int64)
    if default_size:
        return np.full((len(attributes), 2), int(default_size), dtype=np.int64)
    from conceptlens.probes import image_sizes

    return image_sizes(probe_files(root, attributes))


def load_split_images(split_dir: PathLike, attributes: pd.DataFrame | None = None
                      ) -> np.ndarray:
    """All images of a world split as (n, size, size, 3) uint8, in table order."""
    from conceptlens.images import load_rgb_array

    split = Path(split_dir)
    if attributes is None:
        attributes = read_attributes(split)
    return np.stack([load_rgb_array(split / f, what="probe image")
                     for f in attributes["file"]])


class ProbeImages:
    """Images of a probe split, read on demand and cached: ``images[i]`` is image ``i`` as
    (H, W, 3) uint8."""

    def __init__(self, split_dir: PathLike):
        self.root = Path(split_dir)
        self.attributes = read_attributes(self.root)
        require_columns(self.attributes, ("image_id",), self.root)
        self.attributes = self.attributes.set_index("image_id", drop=False)
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.attributes)

    def file(self, image_id: int) -> Path:
        if image_id not in self.attributes.index:
            raise KeyError(f"probe split {self.root}: no image {image_id}")
        if "file" in self.attributes.columns:
            return self.root / str(self.attributes.at[image_id, "file"])
        return self.root / "images" / f"{image_id:06d}.png"

    def __getitem__(self, image_id: int) -> np.ndarray:
        image_id = int(image_id)
        if image_id not in self._cache:
            from conceptlens.images import load_rgb_array

            self._cache[image_id] = load_rgb_array(self.file(image_id), what="probe image")
        return self._cache[image_id]
