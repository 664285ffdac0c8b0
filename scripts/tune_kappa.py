"""Rule tune_kappa: the kappa of every `kappa: tuned` method, chosen on the tuning split."""

from conceptlens.io.tuning import save_tuning
from conceptlens.stages.tuning import tune_kappa
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p = snakemake.params
    save_tuning(snakemake.output[0],
                tune_kappa(snakemake.input.split, p.target, p.plan, p.device, log))
