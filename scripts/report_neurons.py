"""Rule report_neurons: choose the neurons of the report's grids (report/neurons.json)."""

from conceptlens.io.neurons import save_neurons
from conceptlens.stages.report import choose_report_neurons
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    inp, p = snakemake.input, snakemake.params
    document = choose_report_neurons(
        inp.per_neuron, inp.descriptions, inp.topk, layers=p.layers, method=p.method,
        view=p.view, concept_set=p.concept_set, choose=p.choose, top_images=p.top_images,
        seed=p.seed, evidence=inp.evidence, log=log)
    save_neurons(snakemake.output[0], document)
