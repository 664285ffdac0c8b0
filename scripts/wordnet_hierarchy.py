"""Rule wordnet_hierarchy: the WordNet noun subtree under the configured root, as a TSV."""

from conceptlens.io.concepts import write_hierarchy_tsv
from conceptlens.stages.concept_sets import wordnet_hierarchy
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    write_hierarchy_tsv(snakemake.output[0], wordnet_hierarchy(snakemake.params.root, log))
