"""Stages of rules ``stability`` and ``stability_table``: how CLIP-Dissect labels change
with k and on sub-sampled probe sets, for every configured similarity function on one
concept set (the inputs load once), and the table and chart of all summaries."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from conceptlens.progress import progress

_LOG = logging.getLogger(__name__)


def stability(activations: Sequence[str], layers: Sequence[str], images: str, text: str,
              template: str, functions: Sequence[str], ks: Sequence[int], top: int,
              subsample: Mapping | None, probe: str, concept_set: str, clip: str,
              log: logging.Logger = _LOG) -> list[tuple[pd.DataFrame, dict]]:
    """For each of ``functions``: (per-neuron stability, pooled summary) of the layers'
    labels (activation files of the full view, in ``layers`` order), from the CLIP
    image set ``full.all`` of ``images`` and the concept texts of ``text`` with
    ``template``."""
    import torch

    from conceptlens.io.activations import load_activations
    from conceptlens.io.embeddings import load_image_embeddings, load_text_embeddings
    from conceptlens.stability import Subsample, check_image_count, pooled_stability
    from conceptlens.stability_summary import summarise

    layers, paths = list(layers), list(activations)
    if len(layers) != len(paths):
        raise ValueError(f"layers {layers} and activation files {paths} differ in length")
    ks, top = [int(k) for k in ks], int(top)
    sub = Subsample.from_config(subsample)
    concepts, text_emb, _ = load_text_embeddings(text, template)
    image_ids, image_emb = load_image_embeddings(images, "full.all")
    if not np.array_equal(image_ids, np.arange(len(image_ids))):
        raise ValueError(f"{images}: image ids are not 0..{len(image_ids) - 1} in order; "
                         "the stability analysis needs the embedding of every probe image")
    clip_feats = torch.from_numpy(image_emb) @ torch.from_numpy(text_emb).T
    recorded = []
    for layer, path in zip(layers, paths):
        acts, units = load_activations(path)
        check_image_count(len(image_ids), acts.shape[0], path, images)
        recorded.append((layer, torch.from_numpy(acts), units))
    log.info("%s: %d images, %d concepts, layers %s, ks %s, top %d, subsample %s",
             concept_set, len(image_ids), len(concepts), layers, ks, top, sub)
    out = []
    for function in progress(functions, desc=f"stability of {concept_set}", unit="functions",
                             log=log):
        name = f"{probe}_{concept_set}_{function}"
        per_neuron = pooled_stability(recorded, clip_feats, function, concepts, ks, top, sub)
        summary = summarise(per_neuron, name)
        summary.update(probe=probe, concepts=concept_set, function=function, clip=clip,
                       template=template, ks=ks, top=top, subsample=sub._asdict(),
                       n_images=len(image_ids), n_concepts=len(concepts))
        log.info("%s: %d neurons, %s", name, summary["neurons"],
                 {k: round(v, 3) for k, v in summary.items() if isinstance(v, float)})
        out.append((per_neuron, summary))
    return out


def stability_table(summaries: Sequence[str], log: logging.Logger = _LOG):
    """(the table of the summary files, its chart: a matplotlib figure)."""
    from conceptlens.io.stability import read_summary
    from conceptlens.stability_summary import stability_chart
    from conceptlens.stability_summary import stability_table as table_of

    read = [read_summary(path) for path in summaries]
    table = table_of(read)
    log.info("stability table: %d rows from %d summaries", len(table), len(read))
    return table, stability_chart(table)
