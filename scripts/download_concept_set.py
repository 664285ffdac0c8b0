"""Rule download_concept_set: a built-in concept set from upstream (or the configured
mirror), sha256-checked."""

from conceptlens.concept_sets import BUILTIN_DOWNLOADS, download_checked
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    name, url = snakemake.wildcards.download, snakemake.params.url  # noqa: F821
    sha256 = BUILTIN_DOWNLOADS[name].sha256
    download_checked(url, snakemake.output[0], sha256)  # noqa: F821
    log.info("%s: %s -> %s (sha256 %s)", name, url, snakemake.output[0], sha256)  # noqa: F821
