"""Rule activations: the target's pass over the probe set, one job.

For each view (full, center, gradcam): the crop boxes of every probe image, the activations
of the described layers of the target on those crops (on the full view also the stability
analysis' layers), and the top-k activating images of each neuron of the described layers.
The Grad-CAM view's boxes come from a Grad-CAM on the full view (its low-resolution maps
are kept).  The target loads once for all of it; its
class names, classifier layer and layer widths go to activations/target.json.

Images are streamed from their files; each layer's (n_images, n_neurons) matrix is the
only thing kept (spatially reduced), e.g. 50,000 x 2,048 float16 = 200 MB for layer4.
"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.activation_files import save_activations, save_target_summary
from conceptlens.activations import (
    layer_widths,
    precision_context,
    record_activations,
    resolve_device,
)
from conceptlens.ground_truth import output_layer_name
from conceptlens.models.zoo import load_target, target_preprocess
from conceptlens.probes import probe_files, probe_sizes
from conceptlens.topk import save_topk, topk_images
from conceptlens.views import gradcam_boxes, save_boxes, square_boxes, view_loader
from conceptlens.workflow import rule_context


def gradcam_labels(attributes: pd.DataFrame, classes: list[str] | None) -> np.ndarray:
    """Class index of each probe image (the world: its main shape; else the index label)."""
    if "shape" in attributes.columns and classes:
        return np.array([classes.index(s) for s in attributes["shape"]])
    if "label" not in attributes.columns or (attributes["label"] < 0).any():
        raise ValueError("config key views.gradcam_target: 'label' needs a labelled probe set "
                         "(ImageNet); use 'predicted'")
    return attributes["label"].to_numpy()


def per_view(paths: list[str], counts: dict[str, int]) -> dict[str, list[str]]:
    """Output paths listed view by view, ``counts[view]`` each -> view: its paths."""
    out, start = {}, 0
    for view, n in counts.items():
        out[view], start = paths[start:start + n], start + n
    if start != len(paths):
        raise ValueError(f"{len(paths)} output paths for {sum(counts.values())} expected")
    return out


with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    out = snakemake.output  # noqa: F821
    views = list(p.views)
    split = Path(snakemake.input.split)  # noqa: F821
    attributes = pd.read_parquet(split / "attributes.parquet")
    files = probe_files(split, attributes)
    sizes = probe_sizes(attributes, split, p.image_size)
    device = resolve_device(p.device)
    model, classes = load_target(p.target, device)
    preprocess = target_preprocess(p.target)

    layers_of = {view: list(p.layers[view]) for view in views}
    all_layers = list(dict.fromkeys(name for view in views for name in layers_of[view]))
    widths = layer_widths(model, all_layers, preprocess.input_size, device)
    try:
        output_layer = output_layer_name(model)
    except ValueError:
        output_layer = None
    save_target_summary(out.target, classes, output_layer, widths)
    activation_paths = per_view(list(out.activations), {v: len(layers_of[v]) for v in views})
    topk_paths = per_view(list(out.topk), {v: len(out.topk) // len(views) for v in views})
    out_dir = Path(out.activations[0]).parent.parent

    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".activations.") as tmp:
        # Disk-backed float16 matrices, filled batch by batch: memory stays one batch.
        def matrices(view: str) -> dict[str, np.ndarray]:
            return {name: np.lib.format.open_memmap(Path(tmp) / f"{view}.{i}.npy", mode="w+",
                                                    dtype=np.float16,
                                                    shape=(len(attributes), widths[name]))
                    for i, name in enumerate(layers_of[view])}

        # In float32, the Grad-CAM's forward pass over the full view records that view's
        # activations too (the same images, batches and precision): one pass less.
        acts = {"full": matrices("full")} if "full" in views and p.precision == "float32" else {}
        boxes = {"full": square_boxes(sizes, 1.0),
                 "center": square_boxes(sizes, p.center_fraction)}
        fraction = p.gradcam_fraction or p.center_fraction
        labels = gradcam_labels(attributes, classes) if p.gradcam_target == "label" else None
        layer = dict(model.named_modules())[p.gradcam_layer]
        boxes["gradcam"], peaks, low_maps = gradcam_boxes(
            model, layer, preprocess, files, sizes, fraction, p.batch_size, p.workers, device,
            labels, record=acts.get("full"), reduction=p.reduction)
        np.savez(out.cams, low_res=low_maps, peaks=peaks.astype(np.float32))
        log.info("Grad-CAM windows of %s of the shorter side around the maxima of %s%s",
                 fraction, p.gradcam_layer,
                 " (its pass recorded the full view)" if "full" in acts else "")

        for view, boxes_path in zip(views, out.boxes, strict=True):
            layers = layers_of[view]
            save_boxes(boxes_path, boxes[view])
            if view not in acts:
                acts[view] = matrices(view)
                loader = view_loader(files, boxes[view], preprocess.input_size, p.batch_size,
                                     p.workers)
                batches = (preprocess.normalize(x.to(device, non_blocking=True))
                           for x in loader)
                with precision_context(p.precision, device):
                    record_activations(model, batches, layers, p.reduction, device,
                                       out=acts[view])
            for name, path in zip(layers, activation_paths[view], strict=True):
                save_activations(path, acts[view][name])
            # The top-k sets of the described layers (the first layers recorded).
            for name, path in zip(layers, topk_paths[view]):
                indices, values = topk_images(acts[view][name], p.k[view])
                save_topk(path, indices, values)
            del acts[view]  # closes its memmaps before the folder goes
            log.info("%s view: %d images, layers %s, top-%d", view, len(attributes),
                     ", ".join(f"{name} ({widths[name]})" for name in layers), p.k[view])
