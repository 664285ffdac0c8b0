"""Rule describe: every method's descriptions of every layer, for one concept set."""

from conceptlens.io.descriptions import save_descriptions
from conceptlens.stages.describe import describe_plan
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    out = snakemake.output
    results = describe_plan(snakemake.params.plan, log)
    for (table, scores), parquet, csv, npy in zip(results, out.tables, out.csvs, out.scores,
                                                  strict=True):
        save_descriptions(table, parquet, csv, npy, scores)
