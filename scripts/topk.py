"""Rule topk: each view's top-k images of every described neuron, from its activations."""

from conceptlens.stages.target_pass import topk_files
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    topk_files(snakemake.input.activations, snakemake.output, snakemake.params.k, log)
