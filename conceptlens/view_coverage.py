"""How much of the world's objects each view's window holds: the main object whole, and
any part of a distractor (the mechanism the Grad-CAM crop relies on: leaving out objects
unrelated to the class)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

MAIN_BOX = ["main_x0", "main_y0", "main_x1", "main_y1"]
DISTRACTOR_BOXES = [[f"d{k}_{c}" for c in ("x0", "y0", "x1", "y1")] for k in (1, 2)]


def box_coverage(boxes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Share of each ``target`` box's area (n, 4) inside the matching ``boxes`` (n, 4);
    NaN for an empty target box (no such object: coordinates -1)."""
    w = np.clip(np.minimum(boxes[:, 2], target[:, 2]) - np.maximum(boxes[:, 0], target[:, 0]),
                0, None)
    h = np.clip(np.minimum(boxes[:, 3], target[:, 3]) - np.maximum(boxes[:, 1], target[:, 1]),
                0, None)
    area = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    return np.where(area > 0, w * h / np.maximum(area, 1), np.nan)


def view_shares(boxes: Mapping[str, np.ndarray], attributes: pd.DataFrame) -> pd.DataFrame:
    """Per view (``boxes``: view -> (n, 4) windows px, row i = image i of ``attributes``,
    a world attribute table): the share of images whose window holds the whole main
    object, the share whose window holds any part of a distractor (of those with one), and
    the mean share of the first distractor's area inside the window."""
    main = attributes[MAIN_BOX].to_numpy(dtype=float)
    distractors = [attributes[c].to_numpy(dtype=float) for c in DISTRACTOR_BOXES
                   if all(name in attributes for name in c)]
    rows = []
    for view, windows in boxes.items():
        windows = np.asarray(windows, dtype=float)
        main_cover = box_coverage(windows, main)
        covers = np.stack([box_coverage(windows, d) for d in distractors]
                          or [np.full(len(windows), np.nan)], axis=1)
        has = ~np.isnan(covers).all(axis=1)
        any_part = np.nan_to_num(covers, nan=0.0).max(axis=1) > 0
        rows.append({"view": view, "images": len(windows),
                     "main_whole": float((main_cover >= 1).mean()),
                     "distractor_any": float(any_part[has].mean()) if has.any() else np.nan,
                     "distractor_area": float(np.nanmean(covers[:, 0]))
                     if (~np.isnan(covers[:, 0])).any() else np.nan})
    return pd.DataFrame(rows)
