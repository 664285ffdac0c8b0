"""Rule describe: concept scores and descriptions of every layer by every method, for one
concept set.  Embeddings, top-k sets and activations shared by several methods load once."""

from functools import cache

import numpy as np

from conceptlens.activation_files import load_activations
from conceptlens.describe import descriptions_table, method_scores, to_csv_frame
from conceptlens.embeddings import load_image_embeddings, load_text_embeddings
from conceptlens.topk import load_topk
from conceptlens.workflow import rule_context

text_embeddings = cache(load_text_embeddings)
image_embeddings = cache(load_image_embeddings)
activations_of = cache(load_activations)
topk_of = cache(load_topk)

with rule_context(snakemake) as log:  # noqa: F821
    out = snakemake.output  # noqa: F821
    for step, table_path, csv_path, scores_path in zip(
            snakemake.params.plan, out.tables, out.csvs, out.scores, strict=True):  # noqa: F821
        m, layer, files = step["settings"], step["layer"], step["inputs"]
        concepts, text_emb, template_emb = text_embeddings(files["text"], step["template"])
        image_ids, image_emb = image_embeddings(files["images"], step["image_set"])
        if m["family"] == "www":
            topk, _ = topk_of(files["topk"], m["k"])
            result = method_scores(m, image_ids, image_emb, text_emb, template_emb, topk=topk)
            log.info("%s %s: %d neurons, %d weak (no concept above the template)",
                     step["method"], layer, len(result.scores), int(result.weak.sum()))
        else:
            acts, _ = activations_of(files["activations"])
            result = method_scores(m, image_ids, image_emb, text_emb, template_emb,
                                   activations=acts)
            if result.n_nan:
                log.warning("%s %s: %d NaN similarities rank last", step["method"], layer,
                            result.n_nan)
        table = descriptions_table(layer, result.scores, concepts, result.selected, result.weak)
        table.to_parquet(table_path, index=False)
        to_csv_frame(table).to_csv(csv_path, index=False)
        np.save(scores_path, result.scores.cpu().numpy().astype(np.float16))
        log.info("%s: described %d neurons of %s with %d concepts", step["method"], len(table),
                 layer, len(concepts))
