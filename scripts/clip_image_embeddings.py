"""Rule clip_image_embeddings: every image set one CLIP model is asked for, one job."""

from conceptlens.io.embeddings import save_image_embeddings
from conceptlens.stages.clip import clip_image_embeddings
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p = snakemake.params
    sets = clip_image_embeddings(snakemake.input.split, p.plan, p.clip, p.pretrained,
                                 p.batch_size, p.workers, p.precision, p.device, log)
    save_image_embeddings(snakemake.output[0], sets)
