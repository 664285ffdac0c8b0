"""Rule stability: how CLIP-Dissect labels change with k and on sub-sampled probe sets, for
every configured similarity function on one concept set (the inputs load once)."""

import numpy as np
import torch

from conceptlens.activation_files import load_activations
from conceptlens.embeddings import load_image_embeddings, load_text_embeddings
from conceptlens.stability import Subsample, check_image_count, pooled_stability
from conceptlens.stability_tables import summarise, write_json, write_per_neuron
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    p, w = snakemake.params, snakemake.wildcards  # noqa: F821
    inp, out = snakemake.input, snakemake.output  # noqa: F821
    layers, paths = list(p.layers), list(inp.activations)
    if len(layers) != len(paths):
        raise ValueError(f"params.layers {layers} and input.activations {paths} differ in length")
    ks, top = [int(k) for k in p.ks], int(p.top)
    subsample = Subsample.from_config(p.subsample)
    concepts, text_emb, _ = load_text_embeddings(inp.text, p.template)
    image_ids, image_emb = load_image_embeddings(inp.images, "full.all")
    if not np.array_equal(image_ids, np.arange(len(image_ids))):
        raise ValueError(f"{inp.images}: image ids are not 0..{len(image_ids) - 1} in order; "
                         "the stability analysis needs the embedding of every probe image")
    clip_feats = image_emb @ text_emb.T
    activations = []
    for layer, path in zip(layers, paths):
        acts, units = load_activations(path)
        check_image_count(len(image_ids), acts.shape[0], path, inp.images)
        activations.append((layer, torch.from_numpy(acts), units))
    log.info("%s: %d images, %d concepts, layers %s, ks %s, top %d, subsample %s", w.concepts,
             len(image_ids), len(concepts), layers, ks, top, subsample)
    for function, per_neuron_path, summary_path in zip(p.functions, out.per_neuron,
                                                       out.summary, strict=True):
        name = f"{p.probe}_{w.concepts}_{function}"
        per_neuron = pooled_stability(activations, clip_feats, function, concepts, ks, top,
                                      subsample)
        summary = summarise(per_neuron, name)
        summary.update(probe=p.probe, concepts=w.concepts, function=function,
                       clip=p.clip, template=p.template, ks=ks, top=top,
                       subsample=subsample._asdict(), n_images=len(image_ids),
                       n_concepts=len(concepts))
        write_per_neuron(per_neuron_path, per_neuron)
        write_json(summary_path, summary)
        log.info("%s: %d neurons, %s", name, summary["neurons"],
                 {k: round(v, 3) for k, v in summary.items() if isinstance(v, float)})
