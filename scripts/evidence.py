"""Rule evidence: evidence for every description of a concept set, without ground truth
(held-out choice, simulation, contrast, shuffled and constant baselines, agreement and
stability), and its summary per method and layer."""

from pathlib import Path

from conceptlens.io.evidence import save_evidence, save_evidence_summary
from conceptlens.stages.evidence import evidence_plan, evidence_summary
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    stability = {Path(path).stem: str(path) for path in getattr(inp, "stability", [])}
    evidence = evidence_plan(p.plan, stability=stability, log=log, **p.settings)
    save_evidence(evidence, out.table, out.csv)
    save_evidence_summary(evidence_summary(evidence), out.summary, out.summary_json,
                          dict(p.settings))
