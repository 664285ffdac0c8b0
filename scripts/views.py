"""Rule views: crop boxes of a view of the probe images (and Grad-CAM maps).

full: the largest centred square of each image; center: a centred square of
``center_fraction`` of the shorter side; gradcam: a window of ``gradcam_fraction`` (or the
centre fraction) of the shorter side around the maximum of the target's Grad-CAM on the
full view.  Images are streamed; only boxes, peaks and low-resolution maps are kept.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.activations import resolve_device
from conceptlens.models.zoo import load_target, target_preprocess
from conceptlens.probes import probe_files, probe_sizes
from conceptlens.views import (
    boxes_around,
    crop_side,
    gradcam_maps,
    map_peaks,
    peaks_in_image,
    save_boxes,
    square_boxes,
    view_loader,
)
from conceptlens.workflow import rule_context


def gradcam_labels(attributes: pd.DataFrame, classes: list[str] | None) -> np.ndarray:
    """Class index of each probe image (the world: its main shape; else the index label)."""
    if "shape" in attributes.columns and classes:
        return np.array([classes.index(s) for s in attributes["shape"]])
    if "label" not in attributes.columns or (attributes["label"] < 0).any():
        raise ValueError("config key views.gradcam_target: 'label' needs a labelled probe set "
                         "(ImageNet); use 'predicted'")
    return attributes["label"].to_numpy()


with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    view = snakemake.wildcards.view  # noqa: F821
    split = Path(snakemake.input.split)  # noqa: F821
    attributes = pd.read_parquet(split / "attributes.parquet")
    sizes = probe_sizes(attributes, split, getattr(p, "image_size", None))
    full = square_boxes(sizes, 1.0)
    if view == "full":
        boxes = full
    elif view == "center":
        boxes = square_boxes(sizes, p.center_fraction)
    else:
        device = resolve_device(p.device)
        model, classes = load_target(p.target, device)
        preprocess = target_preprocess(p.target)
        layer = dict(model.named_modules())[p.gradcam_layer]
        labels = gradcam_labels(attributes, classes) if p.gradcam_target == "label" else None
        peaks, low_maps, start = [], [], 0
        loader = view_loader(probe_files(split, attributes), full, preprocess.input_size,
                             p.batch_size, p.workers)
        for x in loader:
            x = preprocess.normalize(x.to(device))
            batch_labels = None if labels is None else labels[start:start + len(x)]
            maps, low = gradcam_maps(model, layer, x, batch_labels)
            peaks.append(map_peaks(maps))
            low_maps.append(low.astype(np.float16))
            start += len(x)
        peaks = peaks_in_image(np.concatenate(peaks), full, preprocess.input_size)
        side = crop_side(sizes[:, 0], sizes[:, 1], p.gradcam_fraction or p.center_fraction)
        boxes = boxes_around(peaks, side, sizes[:, 0], sizes[:, 1])
        np.savez(snakemake.output.cams, low_res=np.concatenate(low_maps),  # noqa: F821
                 peaks=peaks.astype(np.float32))
        log.info("Grad-CAM windows of %s of the shorter side around the maxima of %s",
                 p.gradcam_fraction or p.center_fraction, p.gradcam_layer)
    save_boxes(snakemake.output.boxes, boxes)  # noqa: F821
    log.info("%s view: %d boxes", view, len(boxes))
