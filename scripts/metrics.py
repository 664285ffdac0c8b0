"""Rule metrics: evaluate every method's descriptions against the ground truth."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.activations import resolve_device
from conceptlens.metrics import cached_embedder
from conceptlens.models.clip import encode_texts, load_clip
from conceptlens.tables import ablation_table, evaluate_method_layer, table1
from conceptlens.text_models import embed_sentences, load_sentence_model
from conceptlens.workflow import rule_context
from conceptlens.world.concepts import read_concept_set

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    device = resolve_device(p.device)
    ground_truth = pd.read_parquet(snakemake.input.ground_truth)  # noqa: F821
    concepts = read_concept_set(snakemake.input.concepts)  # noqa: F821
    clip, _, tokenizer = load_clip(p.clip["name"], p.pretrained, device)
    sentence_model = load_sentence_model(p.sentence_model, str(device))

    # Each distinct text is embedded once for all methods and layers.
    embed_clip = cached_embedder(lambda texts: encode_texts(clip, tokenizer, texts).cpu().numpy())
    embed_sentence = cached_embedder(lambda texts: embed_sentences(sentence_model, texts))

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
