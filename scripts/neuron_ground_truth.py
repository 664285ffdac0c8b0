"""Rule neuron_ground_truth: the concepts known for the target's neurons (table)."""

from conceptlens.io.ground_truth import save_ground_truth
from conceptlens.stages.ground_truth import ground_truth_table
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    table = ground_truth_table(inp.split, inp.target, inp.activations, p.layers,
                               p.planted, inp.class_names,
                               p.auroc_threshold, log)
    save_ground_truth(table, out.parquet, out.csv)
