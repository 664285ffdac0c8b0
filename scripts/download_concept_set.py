"""Rule download_concept_set: a built-in concept set from upstream (or the configured
mirror), sha256-checked (the stage streams the download to its output)."""

from conceptlens.stages.concept_sets import download_concept_set
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    download_concept_set(snakemake.wildcards.download, snakemake.params.url,
                         snakemake.output[0], log)
