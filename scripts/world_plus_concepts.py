"""Rule world_plus_concepts: the world's vocabulary with WordNet nouns (world_1k,
world_wordnet)."""

from conceptlens.io.concepts import write_concept_set
from conceptlens.stages.concept_sets import world_plus_concepts
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    inp = snakemake.input
    concepts = world_plus_concepts(snakemake.wildcards.plus, inp.world, inp.nouns, log)
    write_concept_set(snakemake.output[0], concepts)
