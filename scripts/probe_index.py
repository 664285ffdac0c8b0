"""Rule probe_index: the index table of a real probe set (no images are copied)."""

from conceptlens.io.probe import write_probe_index
from conceptlens.stages.probe import probe_index
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    table, classes = probe_index(snakemake.params.probe, log)
    write_probe_index(snakemake.output[0], table, classes)
