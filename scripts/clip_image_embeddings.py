"""Rule clip_image_embeddings: CLIP embeddings of a view of the probe images.

subset "topk": each distinct image of any neuron's top-k set (WWW family);
subset "all": the whole probe set (CLIP-Dissect).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from conceptlens.activations import precision_context, resolve_device
from conceptlens.embeddings import save_image_embeddings
from conceptlens.models.clip import clip_input_size, clip_normalize_float, load_clip
from conceptlens.probes import probe_files
from conceptlens.topk import load_topk
from conceptlens.views import load_boxes, view_loader
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
    size = clip_input_size(model)
    out = []
    with torch.no_grad(), precision_context(p.precision, device):
        for x in view_loader(files, boxes, size, p.batch_size, p.workers, ids):
            emb = model.encode_image(clip_normalize_float(model, x.to(device, non_blocking=True)))
            out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
    embeddings = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    save_image_embeddings(snakemake.output[0], ids, embeddings)  # noqa: F821
    log.info("embedded %d images of the %s view", len(ids), snakemake.wildcards.view)  # noqa: F821
