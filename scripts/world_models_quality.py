"""Rule world_models_quality: accuracies of the world models on fresh held-out images."""

from conceptlens.io.atomic import atomic_write_json
from conceptlens.stages.world import world_models_quality
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p = snakemake.params
    quality = world_models_quality(snakemake.input.target, snakemake.input.clip, seed=p.seed,
                                   n_images=p.n_images, image_size=p.image_size, log=log)
    atomic_write_json(snakemake.output[0], quality)
