"""Rule world_concepts: the world concept set and hierarchy."""

from conceptlens.io.concepts import write_concept_set, write_parent_links
from conceptlens.stages.world import world_concepts
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    concepts, parents = world_concepts(log)
    write_concept_set(snakemake.output.concepts, concepts)
    write_parent_links(snakemake.output.hierarchy, parents)
