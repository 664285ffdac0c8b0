"""Rule clip_image_embeddings: CLIP embeddings of every image set one CLIP model is asked
for, one job (the model loads once).

A set is a view of the probe images and a subset: "topk", each distinct image of any
neuron's top-k set on that view (WWW family); "all", the whole probe set (CLIP-Dissect,
stability).
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
    device = resolve_device(p.device)
    model, _, _ = load_clip(p.clip["name"], p.pretrained, device)
    sets = {}
    for image_set in p.plan:
        if image_set["subset"] == "topk":
            ids = np.unique(np.concatenate([load_topk(f)[0].ravel() for f in image_set["topk"]]))
        else:
            ids = np.arange(len(files))
        sets[image_set["name"]] = ids, embed_view_images(
            model, files, load_boxes(image_set["boxes"]), ids, p.batch_size, p.workers,
            p.precision)
        log.info("%s: embedded %d images", image_set["name"], len(ids))
    save_image_embeddings(snakemake.output[0], sets)  # noqa: F821
