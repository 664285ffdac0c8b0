"""Rule activations: activations of the configured layers of the target on a view, and the
top-k activating images of each neuron of the described layers.

Images are streamed from their files; each layer's (n_images, n_neurons) matrix is the
only thing kept (spatially reduced), e.g. 50,000 x 2,048 float16 = 200 MB for layer4.
"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.activations import (
    layer_widths,
    precision_context,
    record_activations,
    resolve_device,
    save_activations,
)
from conceptlens.models.zoo import load_target, target_preprocess
from conceptlens.probes import probe_files
from conceptlens.topk import save_topk, topk_images
from conceptlens.views import load_boxes, view_loader
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    split = Path(snakemake.input.split)  # noqa: F821
    attributes = pd.read_parquet(split / "attributes.parquet")
    boxes = load_boxes(snakemake.input.boxes)  # noqa: F821
    device = resolve_device(p.device)
    model, _ = load_target(p.target, device)
    preprocess = target_preprocess(p.target)
    loader = view_loader(probe_files(split, attributes), boxes, preprocess.input_size,
                         p.batch_size, p.workers)
    batches = (preprocess.normalize(x.to(device, non_blocking=True)) for x in loader)
    layers = list(p.layers)
    widths = layer_widths(model, layers, preprocess.input_size, device)
    out_dir = Path(snakemake.output[0]).parent  # noqa: F821
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".activations.") as tmp:
        # Disk-backed float16 matrices, filled batch by batch: memory stays one batch.
        acts = {layer: np.lib.format.open_memmap(Path(tmp) / f"{i}.npy", mode="w+",
                                                 dtype=np.float16,
                                                 shape=(len(attributes), widths[layer]))
                for i, layer in enumerate(layers)}
        with precision_context(p.precision, device):
            record_activations(model, batches, layers, p.reduction, device, out=acts)
        for layer, path in zip(layers, snakemake.output.activations, strict=True):  # noqa: F821
            log.info("%s: %s neurons x %s images", layer, widths[layer], len(attributes))
            save_activations(path, acts[layer])
        # The top-k sets of the described layers (the first layers recorded).
        for layer, path in zip(layers, snakemake.output.topk):  # noqa: F821
            indices, values = topk_images(acts[layer], p.k)
            save_topk(path, indices, values)
            log.info("%s: top-%d of %d neurons", layer, indices.shape[1], indices.shape[0])
