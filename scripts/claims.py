"""Rule claims: the seeds' claims (Grad-CAM crop, t-vMF, growth with the concept set's
size) as paired differences over neurons with bootstrap intervals."""

from conceptlens.io.metrics import save_metric_table
from conceptlens.stages.metrics import claims
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    table = claims(inp.per_neuron, inp.concepts, p.ablation, p.resamples, p.seed, log)
    save_metric_table(table, out.table, out.json, {
        "roles": dict(p.ablation), "bootstrap_resamples": p.resamples, "seed": p.seed,
        "interval": "95% paired percentile bootstrap over neurons"})
