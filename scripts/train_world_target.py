"""Rule train_world_target: train the world ResNet-18 from scratch on the train split."""

from conceptlens.io.atomic import atomic_write_json
from conceptlens.models.target import save_target_checkpoint
from conceptlens.stages.world import train_world_target
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    trained = train_world_target(snakemake.input.split, snakemake.params.train,
                                 snakemake.threads, log)
    save_target_checkpoint(trained.model, trained.classes, snakemake.output.checkpoint)
    atomic_write_json(snakemake.output.log_json, trained.training_log)
