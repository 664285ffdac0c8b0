"""Rule stability_table: the stability summaries as one table and a bar chart."""

from conceptlens.io.stability import save_chart, save_stability_table
from conceptlens.stages.stability import stability_table
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    out = snakemake.output
    table, chart = stability_table(snakemake.input.summaries, log)
    save_stability_table(table, out.csv, out.json)
    save_chart(chart, out.png, out.svg)
