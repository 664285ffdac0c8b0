"""Rule evidence_check: how well the evidence tells the descriptions that match the
ground truth from those that do not (per method and layer)."""

from conceptlens.io.evidence import load_evidence, save_evidence_check
from conceptlens.io.metrics import load_per_neuron
from conceptlens.stages.evidence import evidence_check
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    inp, out = snakemake.input, snakemake.output
    check = evidence_check(load_evidence(inp.evidence), load_per_neuron(inp.per_neuron), log)
    save_evidence_check(check, out.csv, out.json)
