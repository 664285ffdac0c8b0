"""Rule stability: how CLIP-Dissect labels change with k and on sub-sampled probe sets."""

from conceptlens.io.stability import save_stability_per_neuron, save_summary
from conceptlens.stages.stability import stability
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    results = stability(inp.activations, p.layers, inp.images, inp.text, p.template,
                        p.functions, p.ks, p.top, p.subsample, p.probe,
                        snakemake.wildcards.concepts, p.clip, log)
    for (per_neuron, summary), table, json in zip(results, out.per_neuron, out.summary,
                                                 strict=True):
        save_stability_per_neuron(per_neuron, table)
        save_summary(json, summary)
