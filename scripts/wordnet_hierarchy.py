"""Rule wordnet_hierarchy: the WordNet noun subtree under the configured root, as a TSV."""

from conceptlens.hierarchy import wordnet_hierarchy, write_hierarchy_tsv
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    hierarchy = wordnet_hierarchy(snakemake.params.root)  # noqa: F821
    write_hierarchy_tsv(snakemake.output[0], hierarchy)  # noqa: F821
    log.info("%d synsets under %s", len(hierarchy.nodes), snakemake.params.root)  # noqa: F821
