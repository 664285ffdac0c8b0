"""Rule stability_table: the stability summaries as one table and a bar chart."""

from conceptlens.stability_tables import read_summary, stability_chart, stability_table, write_table
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    out = snakemake.output  # noqa: F821
    summaries = [read_summary(path) for path in snakemake.input.summaries]  # noqa: F821
    table = stability_table(summaries)
    write_table(table, out.csv, out.json)
    stability_chart(table, out.png, out.svg)
    log.info("stability table: %d rows from %d summaries", len(table), len(summaries))
