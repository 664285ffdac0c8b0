"""Rule concept_set: a concept file (configured, downloaded or derived), checked and copied
into the run.  Sets whose upstream file repeats concepts (Broden) keep each one's first line."""

from conceptlens.io.concepts import write_concept_set
from conceptlens.stages.concept_sets import concept_set
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    concepts = concept_set(snakemake.wildcards.concepts, snakemake.input[0], log)
    write_concept_set(snakemake.output[0], concepts)
