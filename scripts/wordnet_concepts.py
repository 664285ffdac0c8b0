"""Rule wordnet_concepts: the WordNet concept set (first lemma of every noun synset)."""

from conceptlens.concept_sets import wordnet_nouns
from conceptlens.workflow import rule_context
from conceptlens.world.concepts import write_concept_set

with rule_context(snakemake) as log:  # noqa: F821
    nouns = wordnet_nouns()
    write_concept_set(snakemake.output[0], nouns)  # noqa: F821
    log.info("%d distinct first lemmas of WordNet 3.0 noun synsets", len(nouns))
