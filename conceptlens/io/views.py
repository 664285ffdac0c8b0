"""Views of the probe images: crop boxes and Grad-CAM maps.

- ``views/<view>/boxes.parquet``: one row per probe image, ``image_id, x0, y0, x1, y1``
  (image pixels, ends exclusive);
- ``views/gradcam/cams.npz``: ``low_res`` (n_images, h', w') float16 Grad-CAM maps at the
  Grad-CAM layer's resolution (each scaled to max 1) and ``peaks`` (n_images, 2) float32,
  the maps' maxima in image pixels (x, y).
"""

from __future__ import annotations

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_savez, atomic_to_parquet

BOX_COLUMNS = ("x0", "y0", "x1", "y1")


def save_boxes(path: PathLike, boxes: np.ndarray) -> None:
    """Write a view's (n, 4) boxes, row i = image i (atomic)."""
    import pandas as pd

    boxes = np.asarray(boxes).reshape(-1, 4)
    atomic_to_parquet(pd.DataFrame({"image_id": np.arange(len(boxes)), "x0": boxes[:, 0],
                                    "y0": boxes[:, 1], "x1": boxes[:, 2], "y1": boxes[:, 3]}),
                      path)


def load_boxes(path: PathLike) -> np.ndarray:
    """(n_images, 4) int64 boxes, row i = image i; a file without the columns or whose ids
    are not 0..n-1 is an error naming it."""
    import pandas as pd

    frame = pd.read_parquet(path)
    missing = [c for c in ("image_id", *BOX_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a boxes file, missing column(s) {', '.join(missing)}")
    frame = frame.sort_values("image_id")
    if not np.array_equal(frame["image_id"].to_numpy(), np.arange(len(frame))):
        raise ValueError(f"{path}: image_id must be 0..n-1")
    return frame[list(BOX_COLUMNS)].to_numpy(dtype=np.int64)


def save_cams(path: PathLike, low_res: np.ndarray, peaks: np.ndarray) -> None:
    """Write the Grad-CAM maps (n, h', w') and their peaks (n, 2) (atomic)."""
    if len(low_res) != len(peaks):
        raise ValueError(f"{len(low_res)} Grad-CAM maps but {len(peaks)} peaks")
    atomic_savez(path, low_res=low_res, peaks=np.asarray(peaks).astype(np.float32))


def load_cams(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(low_res (n, h', w') float32, peaks (n, 2) float32) of a file of :func:`save_cams`."""
    with np.load(path) as data:
        missing = {"low_res", "peaks"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a Grad-CAM maps file, missing {sorted(missing)}")
        return data["low_res"].astype(np.float32), data["peaks"].astype(np.float32)
