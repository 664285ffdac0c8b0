"""Rule explorer: the report's neuron explorer (report/explorer/), a card per neuron."""

from conceptlens.stages.explorer import build_explorer
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    inp, p = snakemake.input, snakemake.params
    build_explorer(snakemake.output[0], inp.descriptions, inp.evidence, inp.per_neuron,
                   inp.ground_truth, inp.maps, inp.split, methods=p.methods,
                   thumbnail_size=p.thumbnail_size, title=p.title, log=log)
