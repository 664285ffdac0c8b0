"""Rule world_sample_grid: a figure of the first probe images with their ground truth."""

from conceptlens.stages.world import world_sample_grid
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    world_sample_grid(snakemake.input.split, snakemake.output[0], log)
