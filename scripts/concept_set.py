"""Rule concept_set: a concept file (configured, downloaded or derived), checked and copied
into the run.  Sets whose upstream file repeats concepts (Broden) keep each one's first line."""

from conceptlens.concept_sets import DUPLICATES_ALLOWED
from conceptlens.workflow import rule_context
from conceptlens.world.concepts import read_concept_set, write_concept_set

with rule_context(snakemake) as log:  # noqa: F821
    name, source = snakemake.wildcards.concepts, snakemake.input[0]  # noqa: F821
    concepts = read_concept_set(source, keep_first_of_duplicates=name in DUPLICATES_ALLOWED)
    write_concept_set(snakemake.output[0], concepts)  # noqa: F821
    log.info("%s: %d concepts from %s", name, len(concepts), source)
