"""Rule import_descriptions: another tool's descriptions in the descriptions format."""

from conceptlens.io.descriptions import save_description_table
from conceptlens.stages.concept_sets import import_descriptions
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    table = import_descriptions(snakemake.input[0], snakemake.params.settings, log)
    save_description_table(table, snakemake.output[0])
