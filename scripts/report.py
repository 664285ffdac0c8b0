"""Rule report: render results/<run>/report.html (self-contained) and report.pdf."""

import logging
from pathlib import Path

from conceptlens.report.inputs import inputs_from_snakemake
from conceptlens.report.render import render_report
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    for noisy in ("weasyprint", "fontTools"):  # per-step INFO lines: keep warnings only
        logging.getLogger(noisy).setLevel(logging.WARNING)
    inputs = inputs_from_snakemake(snakemake.input)  # noqa: F821
    settings = dict(snakemake.params.settings)  # noqa: F821
    # Benchmark files are not rule outputs, so they are found, not declared as inputs.
    if settings.get("benchmarks_dir"):
        found = Path(settings["benchmarks_dir"]).rglob("*.tsv")
        inputs["benchmarks"] = sorted(str(f) for f in found)
    for key, paths in inputs.items():
        log.info("input %s: %d file(s)", key, len(paths))
    stats = render_report(inputs, settings,
                          snakemake.output.html, snakemake.output.pdf)  # noqa: F821
    log.info("report: build %.1f s, HTML %.1f s (%.1f MB), PDF %.1f s (%.1f MB)",
             stats["build_s"], stats["html_s"], stats["html_bytes"] / 1e6, stats["pdf_s"],
             stats["pdf_bytes"] / 1e6)
