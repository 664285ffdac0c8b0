"""Rule check_requirements: every weight, image folder and download the config needs is
here or downloadable; otherwise one error naming each missing item and its config key."""

from pathlib import Path

from conceptlens.io.atomic import atomic_write_json
from conceptlens.stages.probe import check_requirements
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    results_dir = Path(snakemake.output[0]).parents[1]  # results/<run>/
    report = check_requirements(snakemake.params.config, results_dir, log)
    atomic_write_json(snakemake.output[0], report)
