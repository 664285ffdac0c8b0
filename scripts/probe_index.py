"""Rule probe_index: the index table of a real probe set (no images are copied)."""

from conceptlens.probes import probe_index_and_classes, write_probe_index
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    spec = snakemake.params.probe  # noqa: F821
    table, classes = probe_index_and_classes(spec)
    write_probe_index(snakemake.output[0], table, classes)  # noqa: F821
    labelled = int((table["label"] >= 0).sum())
    log.info("%d %s images from %s (%d labelled); sizes %s-%s px", len(table), spec["source"],
             spec["path"], labelled, int(table[["width", "height"]].min().min()),
             int(table[["width", "height"]].max().max()))
