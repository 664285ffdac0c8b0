"""Rule wordnet_concepts: the WordNet concept set (first lemma of every noun synset)."""

from conceptlens.io.concepts import write_concept_set
from conceptlens.stages.concept_sets import wordnet_concepts
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    write_concept_set(snakemake.output[0], wordnet_concepts(log))
