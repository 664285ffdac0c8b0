"""Localisation scores of saliency maps against object boxes, and baseline maps.

Boxes are ``(x0, y0, x1, y1)`` pixels with exclusive ends, as in the world's attribute
tables (``conceptlens.world.draw``): pixel (x, y) is inside when x0 <= x < x1 and
y0 <= y < y1.  Maps are (n, H, W), non-negative.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

TIE_TOLERANCE = 1e-6  # values within this of a map's maximum count as maximal


def box_masks(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(n, H, W) bool: True inside each box (n, 4) x0, y0, x1, y1 (ends exclusive)."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]) | (boxes[:, :2] < 0).any(1) \
        | (boxes[:, 2] > width) | (boxes[:, 3] > height)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"box {i} {boxes[i].tolist()} is empty or outside the {width} x {height} "
                         "image (x0, y0, x1, y1 with exclusive ends)")
    xs, ys = np.arange(width), np.arange(height)
    inside_x = (xs >= boxes[:, 0:1]) & (xs < boxes[:, 2:3])  # (n, W)
    inside_y = (ys >= boxes[:, 1:2]) & (ys < boxes[:, 3:4])  # (n, H)
    return inside_y[:, :, None] & inside_x[:, None, :]


def _check(maps: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (n, H, W), got shape {maps.shape}")
    boxes = np.asarray(boxes).reshape(-1, 4)
    if len(boxes) != len(maps):
        raise ValueError(f"{len(maps)} maps but {len(boxes)} boxes")
    return maps, box_masks(boxes, maps.shape[1], maps.shape[2])


def pointing_hit(maps: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n,) bool: the map's maximum falls inside the box.

    Ties: all pixels within ``TIE_TOLERANCE`` of the maximum are maximal, and it is a hit
    when at least half of them are inside the box.  With a unique maximum this is the
    argmax test; a plateau straddling the box edge counts by its majority; a flat map
    (everything maximal) hits only if the box covers half the image.
    """
    maps, inside = _check(maps, boxes)
    peak = maps.reshape(len(maps), -1).max(axis=1)[:, None, None]
    maximal = maps >= peak - TIE_TOLERANCE
    return 2 * (maximal & inside).sum(axis=(1, 2)) >= maximal.sum(axis=(1, 2))


def energy_share(maps: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n,) sum of the map inside the box / its total sum; an all-zero map counts as
    uniform (the box's share of the image area)."""
    maps, inside = _check(maps, boxes)
    if (maps < 0).any():
        raise ValueError("energy_share needs non-negative maps")
    total = maps.sum(axis=(1, 2))
    inner = (maps * inside).sum(axis=(1, 2))
    area = inside.mean(axis=(1, 2))
    return np.where(total > 0, inner / np.where(total > 0, total, 1), area)


def upsample_maps(low_res: np.ndarray, height: int, width: int) -> np.ndarray:
    """(n, h, w) low-resolution maps (e.g. Grad-CAM at layer4) -> (n, H, W) float32, bilinear
    (align_corners=False, as image resizing)."""
    x = torch.as_tensor(np.asarray(low_res, dtype=np.float32))[:, None]
    out = torch.nn.functional.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return out[:, 0].numpy()


def centre_bias_maps(n: int, height: int, width: int, sigma_fraction: float = 0.25) -> np.ndarray:
    """(n, H, W) float32 Gaussian centred on the image centre ((W-1)/2, (H-1)/2) with
    standard deviation ``sigma_fraction`` of the shorter side; peak 1."""
    if sigma_fraction <= 0:
        raise ValueError(f"sigma_fraction must be positive, got {sigma_fraction}")
    sigma = sigma_fraction * min(height, width)
    ys = (np.arange(height) - (height - 1) / 2)[:, None]
    xs = (np.arange(width) - (width - 1) / 2)[None, :]
    g = np.exp(-(xs ** 2 + ys ** 2) / (2 * sigma ** 2)).astype(np.float32)
    return np.broadcast_to(g, (n, height, width)).copy()


def select_images(n_total: int, n: int, seed: int) -> np.ndarray:
    """``n`` image indices out of ``n_total`` drawn without replacement with ``seed``, sorted
    (all of them when ``n >= n_total``)."""
    if n <= 0:
        raise ValueError(f"number of evaluation images must be positive, got {n}")
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def localisation_table(maps: Mapping[tuple[str, str], np.ndarray],
                       boxes: np.ndarray | Mapping[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    """One row per (method, attribute) key of ``maps`` (each (n, H, W)) against ``boxes``
    (n, 4), or a mapping with the same keys giving each entry its own boxes: pointing (%
    hits), pointing_se (binomial standard error, %), energy_share (mean), energy_share_se
    (standard error of the mean), images (n)."""
    rows = []
    for key, m in maps.items():
        method, attribute = key
        b = boxes[key] if isinstance(boxes, Mapping) else boxes
        hits = pointing_hit(m, b).astype(np.float64)
        share = energy_share(m, b)
        n = len(hits)
        p = hits.mean() if n else np.nan
        rows.append({
            "method": method, "attribute": attribute,
            "pointing": 100 * p,
            "pointing_se": 100 * np.sqrt(p * (1 - p) / n) if n else np.nan,
            "energy_share": share.mean() if n else np.nan,
            "energy_share_se": share.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan,
            "images": n,
        })
    return pd.DataFrame(rows, columns=["method", "attribute", "pointing", "pointing_se",
                                       "energy_share", "energy_share_se", "images"])
