"""Rule clip_image_embeddings: CLIP embeddings of a view of the probe images.

subset "topk": each distinct image of any neuron's top-k set (WWW family);
subset "all": the whole probe set (CLIP-Dissect).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.activations import resolve_device
from conceptlens.embeddings import embed_view_images, save_image_embeddings
from conceptlens.models.clip import load_clip
from conceptlens.probes import probe_files
from conceptlens.topk import load_topk
from conceptlens.views import load_boxes
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    split = Path(snakemake.input.split)  # noqa: F821
    files = probe_files(split, pd.read_parquet(split / "attributes.parquet"))
    boxes = load_boxes(snakemake.input.boxes)  # noqa: F821
    if snakemake.wildcards.subset == "topk":  # noqa: F821
        ids = np.unique(np.concatenate([load_topk(f)[0].ravel() for f in snakemake.input.topk]))  # noqa: F821
    else:
        ids = np.arange(len(files))
    device = resolve_device(p.device)
    model, _, _ = load_clip(p.clip["name"], p.pretrained, device)
    embeddings = embed_view_images(model, files, boxes, ids, p.batch_size, p.workers,
                                   p.precision)
    save_image_embeddings(snakemake.output[0], ids, embeddings)  # noqa: F821
    log.info("embedded %d images of the %s view", len(ids), snakemake.wildcards.view)  # noqa: F821
