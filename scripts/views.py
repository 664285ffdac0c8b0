"""Rules simple_views and gradcam_view: crop boxes of a view of the probe images (and Grad-CAM maps).

full: the largest centred square of each image; center: a centred square of
``center_fraction`` of the shorter side; gradcam: a window of ``gradcam_fraction`` (or the
centre fraction) of the shorter side around the maximum of the target's Grad-CAM on the
full view.  Images are streamed; only boxes, peaks and low-resolution maps are kept.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.probes import probe_files, probe_sizes
from conceptlens.views import gradcam_boxes, save_boxes, square_boxes
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
    out = snakemake.output  # noqa: F821
    split = Path(snakemake.input.split)  # noqa: F821
    attributes = pd.read_parquet(split / "attributes.parquet")
    sizes = probe_sizes(attributes, split, getattr(p, "image_size", None))
    if "cams" not in out.keys():  # rule simple_views
        save_boxes(out.full, square_boxes(sizes, 1.0))
        save_boxes(out.center, square_boxes(sizes, p.center_fraction))
        log.info("full and center views: %d boxes each", len(sizes))
    else:
        from conceptlens.activations import resolve_device
        from conceptlens.models.zoo import load_target, target_preprocess

        device = resolve_device(p.device)
        model, classes = load_target(p.target, device)
        preprocess = target_preprocess(p.target)
        layer = dict(model.named_modules())[p.gradcam_layer]
        labels = gradcam_labels(attributes, classes) if p.gradcam_target == "label" else None
        boxes, peaks, low_maps = gradcam_boxes(
            model, layer, preprocess, probe_files(split, attributes), sizes,
            p.gradcam_fraction or p.center_fraction, p.batch_size, p.workers, device, labels)
        np.savez(out.cams, low_res=low_maps, peaks=peaks.astype(np.float32))
        save_boxes(out.boxes, boxes)
        log.info("Grad-CAM windows of %s of the shorter side around the maxima of %s: %d "
                 "boxes", p.gradcam_fraction or p.center_fraction, p.gradcam_layer, len(boxes))
