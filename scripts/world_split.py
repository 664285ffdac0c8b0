"""Rule world_split: generate a split of the synthetic concept world."""

from conceptlens.stages.world import world_split
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p = snakemake.params
    world_split(snakemake.output[0], seed=p.seed, n_images=p.n_images,
                image_size=p.image_size,
                central_distractor_probability=p.central_distractor_probability,
                workers=snakemake.threads, log=log)
