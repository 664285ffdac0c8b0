"""Rule import_descriptions: another tool's descriptions in the descriptions format,
checked against the run's target (its layers and their widths)."""

from conceptlens.io.descriptions import save_description_table
from conceptlens.stages.concept_sets import import_descriptions
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    table = import_descriptions(snakemake.input.csv, snakemake.params.settings, log,
                                name=snakemake.wildcards.imported,
                                target_summary=snakemake.input.target,
                                target_layers=snakemake.params.target_layers)
    save_description_table(table, snakemake.output[0])
