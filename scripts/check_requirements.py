"""Rule check_requirements: every weight, image folder and download the config needs is
here or downloadable; otherwise one error naming each missing item and its config key."""

import json
from pathlib import Path

from conceptlens.files import atomic_write_text
from conceptlens.offline import check_requirements
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    results_dir = Path(snakemake.output[0]).parents[1]  # noqa: F821 - results/<run>/
    check_requirements(p.config, results_dir, f"run {p.config['run']!r}")
    report = {"run": p.config["run"], "target": p.config["target"], "probe": p.config["probe"],
              "clip_models": p.config["clip_models"],
              "sentence_model": p.config["metrics"]["sentence_model"],
              "concept_sets": p.config["concept_sets"]}
    atomic_write_text(snakemake.output[0], json.dumps(report, indent=2) + "\n")  # noqa: F821
    log.info("every required weight, image folder and download is available")
