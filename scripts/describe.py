"""Rule describe: concept scores and descriptions of one layer by one method."""

import numpy as np

from conceptlens.activations import load_activations
from conceptlens.describe import descriptions_table, method_scores, to_csv_frame
from conceptlens.embeddings import load_image_embeddings, load_text_embeddings
from conceptlens.topk import load_topk
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    m = snakemake.params.method  # noqa: F821
    layer = snakemake.wildcards.layer  # noqa: F821
    concepts, text_emb, template_emb = load_text_embeddings(snakemake.input.text)  # noqa: F821
    image_ids, image_emb = load_image_embeddings(snakemake.input.images)  # noqa: F821
    if m["family"] == "www":
        topk, _ = load_topk(snakemake.input.topk, m["k"])  # noqa: F821
        result = method_scores(m, image_ids, image_emb, text_emb, template_emb, topk=topk)
        log.info("%s: %d neurons, %d weak (no concept above the template)", layer,
                 len(result.scores), int(result.weak.sum()))
    else:
        acts, _ = load_activations(snakemake.input.activations)  # noqa: F821
        result = method_scores(m, image_ids, image_emb, text_emb, template_emb, activations=acts)
        if result.n_nan:
            log.warning("%d NaN similarities rank last", result.n_nan)
    table = descriptions_table(layer, result.scores, concepts, result.selected, result.weak)
    table.to_parquet(snakemake.output.table, index=False)  # noqa: F821
    to_csv_frame(table).to_csv(snakemake.output.csv, index=False)  # noqa: F821
    np.save(snakemake.output.scores, result.scores.cpu().numpy().astype(np.float16))  # noqa: F821
    log.info("described %d neurons of %s with %d concepts", len(table), layer, len(concepts))
