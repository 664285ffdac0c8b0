"""Rule describe: concept scores and descriptions of one layer by one method."""

import numpy as np
import torch

from conceptlens.activations import load_activations
from conceptlens.describe import descriptions_table, to_csv_frame, top1_selection
from conceptlens.embeddings import load_image_embeddings, load_text_embeddings, rows_of
from conceptlens.scoring import CLIP_DISSECT_FUNCTIONS, select_concepts, www_scores
from conceptlens.stability import canonical_order
from conceptlens.topk import load_topk
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    m = snakemake.params.method  # noqa: F821
    layer = snakemake.wildcards.layer  # noqa: F821
    concepts, text_emb, template_emb = load_text_embeddings(snakemake.input.text)  # noqa: F821
    image_ids, image_emb = load_image_embeddings(snakemake.input.images)  # noqa: F821
    if m["family"] == "www":
        topk, _ = load_topk(snakemake.input.topk, m["k"])  # noqa: F821
        rows = torch.from_numpy(rows_of(image_ids, topk))
        scores = www_scores(image_emb, rows, text_emb, template_emb, similarity=m["similarity"],
                            kappa=m.get("kappa", 0.0))
        selected, weak = select_concepts(scores, m["alpha"])
        log.info("%s: %d neurons, %d weak (no concept above the template)", layer,
                 len(scores), int(weak.sum()))
    else:
        acts, _ = load_activations(snakemake.input.activations)  # noqa: F821
        if not np.array_equal(image_ids, np.arange(len(acts))):
            raise ValueError("CLIP-Dissect needs the embedding of every probe image")
        clip_feats = image_emb @ text_emb.T
        target_feats = torch.from_numpy(acts)
        # Tied activations (ReLU zeros, float16) would make top-k sets depend on the probe
        # order; scoring the images in an order fixed by their content makes them not.
        order = canonical_order(clip_feats, target_feats)
        kwargs = {"top_k": m["top_k"]} if "top_k" in m else {}
        scores = CLIP_DISSECT_FUNCTIONS[m["function"]](clip_feats[order], target_feats[order],
                                                       **kwargs)
        n_nan = int(torch.isnan(scores).sum())
        if n_nan:  # e.g. rank_reorder on negative CLIP similarities, as in the reference code
            log.warning("%d NaN similarities rank last", n_nan)
            scores = torch.nan_to_num(scores, nan=float("-inf"))
        selected, weak = top1_selection(scores), None
    table = descriptions_table(layer, scores, concepts, selected, weak)
    table.to_parquet(snakemake.output.table, index=False)  # noqa: F821
    to_csv_frame(table).to_csv(snakemake.output.csv, index=False)  # noqa: F821
    np.save(snakemake.output.scores, scores.cpu().numpy().astype(np.float16))  # noqa: F821
    log.info("described %d neurons of %s with %d concepts", len(table), layer, len(concepts))
