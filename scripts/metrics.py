"""Rule metrics: evaluate every method's descriptions against the ground truth (the text
embeddings come precomputed from rule metric_text_embeddings)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.metrics import lookup_embedder
from conceptlens.tables import ablation_table, evaluate_method_layer, table1
from conceptlens.workflow import rule_context
from conceptlens.world.concepts import read_concept_set

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    ground_truth = pd.read_parquet(snakemake.input.ground_truth)  # noqa: F821
    concepts = read_concept_set(snakemake.input.concepts)  # noqa: F821
    # Every text the metrics compare was embedded by rule metric_text_embeddings.
    source = str(snakemake.input.text_embeddings)  # noqa: F821
    with np.load(source) as saved:
        texts = [str(t) for t in saved["texts"]]
        embed_clip = lookup_embedder(texts, saved["clip"], source)
        embed_sentence = lookup_embedder(texts, saved["sentence"], source)

    tables = []  # (method, layer, descriptions, scores or None)
    for path in snakemake.input.descriptions:  # noqa: F821
        scores = np.load(str(path).replace(".parquet", ".scores.npy"))
        tables.append((Path(path).parent.name, Path(path).stem, pd.read_parquet(path), scores))
    for path in snakemake.input.imported:  # noqa: F821
        imported = pd.read_parquet(path)
        for layer, group in imported.groupby("layer"):
            tables.append((Path(path).stem, str(layer), group.reset_index(drop=True), None))

    summaries, per_neuron = {}, []
    for method, layer, descriptions, scores in tables:
        if not (ground_truth["layer"] == layer).any():
            log.info("%s %s: no ground truth, skipped", method, layer)
            continue
        summary, neurons = evaluate_method_layer(descriptions, scores, concepts, ground_truth,
                                                 embed_clip, embed_sentence)
        summaries[(method, layer)] = summary
        per_neuron.append(neurons.assign(method=method))
        log.info("%s %s: %s", method, layer, {k: round(v, 4) for k, v in summary.items()})
    t1 = table1(summaries)
    t1.to_csv(snakemake.output.table1, index=False)  # noqa: F821
    Path(snakemake.output.table1_json).write_text(json.dumps({  # noqa: F821
        "concept_set": snakemake.wildcards.concepts,  # noqa: F821
        "sentence_model": p.sentence_model,
        "clip_model": p.clip,
        "rows": t1.to_dict(orient="records"),
    }, indent=2, default=float))
    ablation = ablation_table(summaries, p.ablation, list(p.layers))
    ablation.to_csv(snakemake.output.ablation, index=False)  # noqa: F821
    Path(snakemake.output.ablation_json).write_text(json.dumps({  # noqa: F821
        "concept_set": snakemake.wildcards.concepts,  # noqa: F821
        "roles": dict(p.ablation),
        "rows": ablation.to_dict(orient="records"),
    }, indent=2, default=float))
    pd.concat(per_neuron, ignore_index=True).to_parquet(snakemake.output.per_neuron, index=False)  # noqa: F821
