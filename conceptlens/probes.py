"""Probe sets (config key ``probe``): the images neurons are described on.

Every probe set becomes a *probe directory* holding ``attributes.parquet``, one row per
image: ``image_id``, ``file`` (relative to the directory, or absolute), ``width``,
``height`` (px) and ``label`` (class index, -1 when unknown).  The world's probe split is
already one; real sets get an index written by the ``probe_index`` rule, with absolute
paths to the images where they lie (nothing is copied, nothing is held in memory).

Sources:

- ``imagenet``: an ImageFolder of wnid folders (``n01440764/*.JPEG``; label = index of
  the wnid in sorted order, as torchvision), or a flat folder of ``ILSVRC2012_val_*.JPEG``
  with ``labels``: ``LOC_val_solution.csv`` (Kaggle) or the ILSVRC2012 devkit folder
  (``data/meta.mat`` and ``data/ILSVRC2012_validation_ground_truth.txt``).
- ``broden``: the NetDissect-Lite layout: ``index.csv`` whose ``image`` column names files
  under ``images/`` (all images under ``images/`` when there is no index).
- ``folder``: every image file under ``path``, recursively, in sorted order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.errors import InputError

SOURCES = ("world", "imagenet", "broden", "folder")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm")
INDEX_COLUMNS = ["image_id", "file", "width", "height", "label"]


class ProbeSetError(InputError, ValueError):
    """A probe set cannot be read; the message names the folder, file or config key."""


def image_files(root: Path) -> list[Path]:
    """Image files under ``root``, recursively, sorted by relative path."""
    return sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def _require_dir(path: str | os.PathLike | None, key: str) -> Path:
    if not path:
        raise ProbeSetError(f"config key {key} is required for this probe source")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ProbeSetError(f"config key {key}: folder {str(root)!r} does not exist")
    return root


def imagenet_folder_labels(root: Path) -> tuple[list[Path], np.ndarray, list[str]] | None:
    """(files, labels, sorted wnids) of an ImageFolder of wnid folders, or None when
    ``root`` is not one."""
    wnids = sorted(d.name for d in root.iterdir() if d.is_dir() and _is_wnid(d.name))
    if not wnids:
        return None
    files, labels = [], []
    for label, wnid in enumerate(wnids):
        found = image_files(root / wnid)
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, dtype=np.int64), wnids


def _is_wnid(name: str) -> bool:
    return len(name) == 9 and name[0] == "n" and name[1:].isdigit()


def read_loc_val_solution(path: Path) -> dict[str, str]:
    """ImageId -> wnid from Kaggle's ``LOC_val_solution.csv`` (first box's class)."""
    table = pd.read_csv(path)
    missing = {"ImageId", "PredictionString"} - set(table.columns)
    if missing:
        raise ProbeSetError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return {str(i): str(s).split()[0] for i, s in zip(table["ImageId"], table["PredictionString"])}


def read_devkit_labels(devkit: Path) -> dict[str, str]:
    """ImageId (``ILSVRC2012_val_00000001``) -> wnid from the ILSVRC2012 devkit folder."""
    from torchvision.datasets.imagenet import parse_meta_mat, parse_val_groundtruth_txt

    for needed in ("data/meta.mat", "data/ILSVRC2012_validation_ground_truth.txt"):
        if not (devkit / needed).is_file():
            raise ProbeSetError(f"config key probe.labels: devkit folder {devkit} has no {needed}")
    idx_to_wnid, _ = parse_meta_mat(str(devkit))
    ids = parse_val_groundtruth_txt(str(devkit))
    return {f"ILSVRC2012_val_{i + 1:08d}": idx_to_wnid[c] for i, c in enumerate(ids)}


def imagenet_flat_labels(root: Path, labels: str | os.PathLike | None, wnids: Sequence[str]
                         ) -> tuple[list[Path], np.ndarray]:
    """Files of a flat ImageNet val folder and their class indices into ``wnids``."""
    if not labels:
        raise ProbeSetError(f"config key probe.labels: {root} holds no wnid folders, so a labels "
                            "file is needed (LOC_val_solution.csv or the devkit folder)")
    labels_path = Path(labels).expanduser()
    if labels_path.is_dir():
        by_image = read_devkit_labels(labels_path)
    elif labels_path.is_file():
        by_image = read_loc_val_solution(labels_path)
    else:
        raise ProbeSetError(f"config key probe.labels: {str(labels_path)!r} does not exist")
    index = {w: i for i, w in enumerate(wnids)}
    files = image_files(root)
    unknown = [f.name for f in files if f.stem not in by_image]
    if unknown:
        raise ProbeSetError(f"config key probe.labels: {labels_path} has no label for "
                            f"{len(unknown)} image(s), e.g. {unknown[0]}")
    bad = sorted({by_image[f.stem] for f in files} - set(index))
    if bad:
        raise ProbeSetError(f"{labels_path}: unknown wnid(s) {', '.join(bad[:5])}")
    return files, np.asarray([index[by_image[f.stem]] for f in files], dtype=np.int64)


def broden_files(root: Path) -> list[Path]:
    """Images of a NetDissect-Lite Broden folder, in ``index.csv`` order when present."""
    index = root / "index.csv"
    images = root / "images"
    if index.is_file():
        table = pd.read_csv(index, usecols=["image"])
        files = [images / name for name in table["image"]]
        missing = [f for f in files[:1000] if not f.is_file()]
        if missing:
            raise ProbeSetError(f"{index}: image {missing[0]} does not exist")
        return files
    if not images.is_dir():
        raise ProbeSetError(f"config key probe.path: {root} has neither index.csv nor images/ "
                            "(the NetDissect-Lite Broden layout)")
    return image_files(images)


def image_sizes(files: Sequence[Path], decode: bool = False, source: str | None = None,
                workers: int = 1) -> np.ndarray:
    """(n, 2) int width, height px of each file, read from its header; with ``decode``,
    after decoding all of it (:func:`conceptlens.images.check_image`), on ``workers``
    threads.  A file that cannot be read is an
    :class:`~conceptlens.images.ImageDecodeError` naming it (and ``source``, where it
    was configured)."""
    from PIL import Image

    from conceptlens.images import check_image, decode_error

    def header(f: Path) -> tuple[int, int]:
        try:
            with Image.open(f) as img:
                return img.size
        except Exception as err:
            raise decode_error(f, err, "probe image", source) from err

    def decoded(f: Path) -> tuple[int, int]:
        return check_image(f, what="probe image", source=source)

    from conceptlens.progress import LOG_INTERVAL, progress

    one = decoded if decode else header
    # decoding every image takes minutes for ImageNet's 50,000; headers, seconds
    shown = {"total": len(files), "unit": "images", "min_seconds": 0 if decode else LOG_INTERVAL,
             "desc": "probe images, decoded" if decode else "probe image sizes"}
    if workers <= 1 or len(files) < 2 * workers:
        found = list(progress(map(one, files), **shown))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding
            found = list(progress(pool.map(one, files), **shown))
    return np.asarray(found, dtype=np.int64).reshape(-1, 2)


def probe_index(spec: Mapping, decode: bool = True, workers: int = 1) -> pd.DataFrame:
    """The index table of a configured probe set (columns :data:`INDEX_COLUMNS`)."""
    return probe_index_and_classes(spec, decode, workers)[0]


def probe_index_and_classes(spec: Mapping, decode: bool = True, workers: int = 1
                            ) -> tuple[pd.DataFrame, list[str]]:
    """The index table of a configured probe set and its class list: the wnids in label
    order for ImageNet (label ``i`` = ``wnids[i]``), else empty.  ``decode``: decode every
    image (:func:`image_sizes`, on ``workers`` threads), so that a truncated or corrupt
    file stops the index, naming it, before any heavy job reads it."""
    source = spec.get("source", "world")
    root = _require_dir(spec.get("path"), "probe.path")
    wnids: list[str] = []
    if source == "imagenet":
        found = imagenet_folder_labels(root)
        if found is not None:
            files, labels, wnids = found
        else:
            labels_given = spec.get("labels")
            wnids = sorted(set(_all_wnids(labels_given)))
            files, labels = imagenet_flat_labels(root, labels_given, wnids)
    elif source == "broden":
        files = broden_files(root)
        labels = np.full(len(files), -1, dtype=np.int64)
    elif source == "folder":
        files = image_files(root)
        labels = np.full(len(files), -1, dtype=np.int64)
    else:
        raise ProbeSetError(f"config key probe.source: {source!r} has no index "
                            f"(valid: {', '.join(SOURCES)})")
    limit = spec.get("limit")
    if limit:
        files, labels = files[:limit], labels[:limit]
    if not files:
        raise ProbeSetError(f"config key probe.path: no images found in {root}")
    sizes = image_sizes(files, decode=decode, source=f"config key probe.path: {root}",
                        workers=workers)
    table = pd.DataFrame({"image_id": np.arange(len(files)),
                          "file": [str(f.resolve()) for f in files],
                          "width": sizes[:, 0], "height": sizes[:, 1], "label": labels})
    return table, wnids


def probe_state(spec: Mapping) -> tuple[int, str] | None:
    """(number of images, fingerprint) of a real probe set as configured, cheaply (no image
    is opened): the count after ``limit``, and a sha256 of the relative path, size and
    modification time of every image file under ``probe.path`` and of the index or labels
    file, so that an added, removed or replaced image changes it.  None when the folder is
    missing (the requirements check reports it)."""
    import hashlib

    root = Path(spec.get("path") or "").expanduser()
    if not spec.get("path") or not root.is_dir():
        return None
    source = spec.get("source", "world")
    files = image_files(root)
    extra = [Path(spec["labels"]).expanduser()] if spec.get("labels") else []
    count = len(files)
    if source == "imagenet":
        wnid_files = [f for f in files if len(f.relative_to(root).parts) == 2
                      and _is_wnid(f.parent.name)]
        count = len(wnid_files) or count
    elif source == "broden" and (root / "index.csv").is_file():
        extra.append(root / "index.csv")
        with open(root / "index.csv", "rb") as index:
            count = max(sum(1 for _ in index) - 1, 0)
    if spec.get("limit"):
        count = min(count, int(spec["limit"]))
    digest = hashlib.sha256(f"{source}\n{spec.get('limit')}\n".encode())
    for f in files + [e for e in extra if e.exists()]:
        st = f.stat()
        digest.update(f"{f.relative_to(root) if f.is_relative_to(root) else f}\t{st.st_size}"
                      f"\t{st.st_mtime_ns}\n".encode())
    return count, digest.hexdigest()


def _all_wnids(labels: str | os.PathLike | None) -> list[str]:
    """Every wnid a labels file or devkit folder mentions (the class list, sorted)."""
    if not labels:
        return []
    path = Path(labels).expanduser()
    if path.is_dir():
        from torchvision.datasets.imagenet import parse_meta_mat

        idx_to_wnid, _ = parse_meta_mat(str(path))
        return [w for i, w in sorted(idx_to_wnid.items()) if i <= 1000]
    if path.is_file():
        return list(read_loc_val_solution(path).values())
    return []
