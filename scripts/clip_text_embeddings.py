"""Rule clip_text_embeddings: a concept set embedded by one CLIP model with every template
its methods (and the stability analysis) use, one job."""

from conceptlens.io.concepts import read_concept_set
from conceptlens.io.embeddings import save_text_embeddings
from conceptlens.stages.clip import clip_text_embeddings
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p = snakemake.params
    concepts = read_concept_set(snakemake.input.concepts)
    embedded = clip_text_embeddings(concepts, p.clip, p.pretrained, p.templates, p.precision,
                                    p.device, log)
    save_text_embeddings(snakemake.output[0], concepts, embedded)
