"""Rule convis_maps: ConVis maps of each report neuron's concept on its images."""

from conceptlens.io.convis import save_maps
from conceptlens.stages.convis import neuron_maps
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    inp = snakemake.input
    maps = neuron_maps(inp.neurons, inp.split, inp.hierarchy, snakemake.params.settings, log)
    save_maps(snakemake.output[0], **maps)
