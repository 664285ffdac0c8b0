"""Rule train_world_clip: train the world's tiny open_clip CLIP from scratch."""

from conceptlens.io.atomic import atomic_write_json
from conceptlens.models.clip import save_clip_checkpoint
from conceptlens.stages.world import train_world_clip
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    trained = train_world_clip(snakemake.input.split, snakemake.params.train,
                               snakemake.threads, log)
    save_clip_checkpoint(trained.model, snakemake.output.checkpoint)
    atomic_write_json(snakemake.output.log_json, trained.training_log)
