"""Rule report: render results/<run>/report.html (self-contained) and report.pdf."""

from conceptlens.report.inputs import inputs_from_snakemake
from conceptlens.stages.report import render_run_report
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    out = snakemake.output
    render_run_report(inputs_from_snakemake(snakemake.input), snakemake.params.settings,
                      out.html, out.pdf, log)
