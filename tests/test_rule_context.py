"""The rule scripts' glue: log files, errors, and torch threads without importing torch."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, os, sys
from types import SimpleNamespace
{before}
from conceptlens.workflow import rule_context
snakemake = SimpleNamespace(log=[{log!r}], threads={threads}, rule="demo")
try:
    with rule_context(snakemake) as log:
        log.info("inside the rule")
        print("a line on stdout")
        {inside}
finally:
    result = {{"torch_imported": "torch" in sys.modules,
               "omp": os.environ.get("OMP_NUM_THREADS")}}
    if "torch" in sys.modules:
        result["torch_threads"] = sys.modules["torch"].get_num_threads()
    sys.__stdout__.write(json.dumps(result))
"""


def run_rule_context(tmp_path: Path, *, before: str = "", inside: str = "pass",
                     threads: int = 1, env: dict | None = None):
    """Run a rule script body in a fresh interpreter: (the process, its result, its log)."""
    log = tmp_path / "rule.log"
    script = SCRIPT.format(before=before, inside=inside, log=str(log), threads=threads)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env)
    return done, json.loads(done.stdout), log.read_text()


def test_a_rule_without_torch_does_not_import_it_and_logs_to_its_file(tmp_path):
    done, result, log = run_rule_context(tmp_path, threads=2, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert result["torch_imported"] is False
    assert result["omp"] == "2"  # set for a torch imported later, where Snakemake did not
    assert "inside the rule" in log and "a line on stdout" in log


def test_a_rule_that_imported_torch_gets_the_rules_threads(tmp_path):
    done, result, _ = run_rule_context(tmp_path, before="import torch", threads=1)
    assert done.returncode == 0, done.stderr
    assert result["torch_threads"] == 1


def test_a_failing_rule_writes_the_error_and_traceback_to_its_log(tmp_path):
    done, _, log = run_rule_context(tmp_path, inside="raise ValueError('bad value 7')")
    assert done.returncode != 0
    assert "ValueError: bad value 7" in log and "Traceback" in log


# Rules whose work needs no torch: importing it would add 3-4 s to each of their jobs.
TORCH_FREE_SCRIPTS = ("world_concepts", "world_split", "world_sample_grid",
                      "probe_index", "concept_set", "download_concept_set",
                      "wordnet_concepts", "wordnet_hierarchy", "wnid_class_names",
                      "import_descriptions", "neuron_ground_truth", "metrics", "stability_table",
                      "report_neurons", "report", "evidence_check")
# Every file format passed between stages, and the modules the workflow reads at parse time.
TORCH_FREE_MODULES = ("conceptlens.io", *(f"conceptlens.io.{m}" for m in (
    "atomic", "activations", "concepts", "convis", "descriptions", "embeddings",
    "evidence", "ground_truth", "metrics", "neurons", "paths", "probe", "stability", "topk", "views")),
    "conceptlens.config", "conceptlens.methods", "conceptlens.concept_sets")


def test_the_torch_free_rule_scripts_import_no_torch():
    import ast

    repo = Path(__file__).resolve().parents[1]
    imports = []
    for name in TORCH_FREE_SCRIPTS:
        tree = ast.parse((repo / "scripts" / f"{name}.py").read_text())
        imports += [ast.unparse(node) for node in tree.body
                    if isinstance(node, ast.Import | ast.ImportFrom)]
    assert len(imports) > len(TORCH_FREE_SCRIPTS)
    imports += [f"import {module}" for module in TORCH_FREE_MODULES]
    code = "\n".join([*imports, "import sys", "print(sorted({'torch', 'open_clip'} & "
                      "set(sys.modules)))"])
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_root_logger_is_restored_after_an_in_process_rule(tmp_path):
    """A rule script run in-process (tests, notebooks) leaves no handler on its closed log
    file and the root level as it was: later logging (progress bars) must not hit it."""
    import logging
    from types import SimpleNamespace

    from conceptlens.workflow import rule_context

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    snakemake = SimpleNamespace(log=[str(tmp_path / "rule.log")], threads=1, rule="demo")
    with rule_context(snakemake) as log:
        log.info("inside the rule")
    assert root.handlers == handlers and root.level == level
    logging.getLogger("conceptlens.after").warning("after the rule")  # no logging error
    assert "inside the rule" in (tmp_path / "rule.log").read_text()
