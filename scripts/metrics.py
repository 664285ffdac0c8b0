"""Rule metrics: every method's descriptions against the ground truth (Table 1, the
ablation, per-neuron scores)."""

from conceptlens.io.metrics import save_metric_table, save_per_neuron
from conceptlens.stages.metrics import evaluate
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    t1, ablation, per_neuron = evaluate(inp.descriptions, inp.imported, inp.ground_truth,
                                        inp.concepts, inp.text_embeddings, p.layers,
                                        p.ablation, log)
    concept_set = snakemake.wildcards.concepts
    save_metric_table(t1, out.table1, out.table1_json, {
        "concept_set": concept_set, "sentence_model": p.sentence_model, "clip_model": p.clip})
    save_metric_table(ablation, out.ablation, out.ablation_json,
                      {"concept_set": concept_set, "roles": dict(p.ablation)})
    save_per_neuron(per_neuron, out.per_neuron)
