"""The crops section: probe images with their centre crop and Grad-CAM crop, the images
chosen where the two crops differ most."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from conceptlens.io.probe import ProbeImages
from conceptlens.report import figures, table_models
from conceptlens.report.formatting import format_metric
from conceptlens.report.sections.model import Figure, Section
from conceptlens.view_coverage import MAIN_BOX, box_coverage, view_shares


@dataclass
class CropRow:
    """One probe image of the centre-versus-Grad-CAM figure."""

    image_id: int
    label: str
    image: str
    center: str
    gradcam: str
    coverage: str


def displaced_images(center: np.ndarray, gradcam: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` image ids whose Grad-CAM box centre lies farthest from the centre box's
    (ties: lower id first). Boxes (n_images, 4)."""
    c = (center[:, :2] + center[:, 2:]) / 2
    g = (gradcam[:, :2] + gradcam[:, 2:]) / 2
    distance = np.hypot(*(g - c).T)
    order = np.lexsort((np.arange(len(distance)), -distance))
    return order[:n]


def gain_and_loss_images(center_cover: np.ndarray, gradcam_cover: np.ndarray, n: int
                         ) -> np.ndarray:
    """Image ids: the ``ceil(n / 2)`` where the Grad-CAM crop holds the most more of the main
    object than the centre crop, then the rest where it holds the least (ties: lower id)."""
    gain = np.nan_to_num(gradcam_cover - center_cover, nan=0.0)
    ids = np.arange(len(gain))
    n_gain = min(len(gain), (n + 1) // 2)
    best = np.lexsort((ids, -gain))[:n_gain]
    rest = np.setdiff1d(ids, best)
    worst = rest[np.lexsort((rest, gain[rest]))][:max(0, n - n_gain)]
    return np.concatenate([best, worst])


def _main_object(attributes: pd.DataFrame, image_id: int) -> str:
    row = attributes.loc[image_id]
    parts = [str(row[c]) for c in ("color", "texture", "shape")
             if c in row and isinstance(row[c], str) and row[c] != "plain"]
    return " ".join(parts)


def crop_rows(probe: ProbeImages, center: np.ndarray, gradcam: np.ndarray, n: int
              ) -> tuple[list[CropRow], str]:
    """Rows of the centre-versus-Grad-CAM figure and the rule that chose the images: with
    the main object's box (the world), :func:`gain_and_loss_images`; otherwise
    :func:`displaced_images`."""
    attrs = probe.attributes
    main = None
    if all(c in attrs for c in MAIN_BOX) and len(attrs) == len(center):
        main = attrs.loc[np.arange(len(center)), MAIN_BOX].to_numpy(dtype=float)
        cover_c = box_coverage(center.astype(float), main)
        cover_g = box_coverage(gradcam.astype(float), main)
        ids = gain_and_loss_images(cover_c, cover_g, n)
        n_gain = (n + 1) // 2
        rule = (f"the {n_gain} probe images where the Grad-CAM crop gains the most of the main "
                f"object over the centre crop, then the {len(ids) - n_gain} where it loses "
                "the most (share of the main object's box inside each crop)")
    else:
        ids = displaced_images(center, gradcam, n)
        rule = "the probe images whose Grad-CAM window lies farthest from the centre"
    rows = []
    for i in ids:
        i = int(i)
        image = probe[i]
        thumb, scale = figures.fit(image)
        thumb = figures.draw_box(thumb, center[i], scale, figures.BOX_COLORS["center"])
        thumb = figures.draw_box(thumb, gradcam[i], scale, figures.BOX_COLORS["gradcam"])
        crops = []
        for box in (center[i], gradcam[i]):
            x0, y0, x1, y1 = (int(v) for v in box)
            crops.append(figures.png_data_uri(figures.fit(image[y0:y1, x0:x1])[0]))
        coverage = "" if main is None else (
            f"main object inside: centre {format_metric(cover_c[i], 'f1')} %, "
            f"Grad-CAM {format_metric(cover_g[i], 'f1')} %")
        label = f"image {i}"
        obj = _main_object(attrs, i)
        if obj:
            label += f": {obj}"
        rows.append(CropRow(i, label, figures.png_data_uri(thumb), crops[0], crops[1], coverage))
    return rows, rule


def crops_section(probe: ProbeImages | None, boxes: Mapping[str, np.ndarray], n: int
                  ) -> Section | None:
    """The figure of ``n`` probe images (:func:`crop_rows`); None when ``n`` is 0 or the run
    has no probe images or lacks the centre or the Grad-CAM boxes."""
    if n <= 0 or probe is None or not {"center", "gradcam"} <= set(boxes):
        return None
    rows, rule = crop_rows(probe, boxes["center"], boxes["gradcam"], n)
    attrs = probe.attributes
    tables = []
    if all(c in attrs for c in MAIN_BOX) and len(attrs) == len(boxes["center"]):
        shares = view_shares({v: boxes[v] for v in ("center", "gradcam")},
                             attrs.loc[np.arange(len(boxes["center"]))])
        tables.append(table_models.view_shares(shares))
    return Section("crops", "Centre crop versus Grad-CAM crop", tables=tables, figures=[Figure(
        "crops", f"The centre crop (orange) and the Grad-CAM crop (cyan) of {rule}; beside "
        "each image, the two crops as the models see them.", rows=rows)])
