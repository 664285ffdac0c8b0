"""``conceptlens describe FOLDER --report DIR``: the workflow on an image folder, to the
report, from ``describe``'s options.

:func:`folder_config` turns the options into a complete workflow config (the default
config with the folder as the probe set, the concept file as the one concept set, the
chosen method as the one method, no ground truth); :func:`run_folder_report` writes it to
``DIR/config.yaml`` and runs the workflow's Snakefile with ``DIR`` as its working
directory, so the report, its evidence and the neuron explorer are those of any folder
run (``DIR/results/<run>/``), and a second call re-runs only what changed.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from conceptlens.config import default_config
from conceptlens.progress import ENV as PROGRESS_ENV
from conceptlens.shipped import WORLD_MODELS_DIR, shipped_path

#: the run name of a describe report (results go to DIR/results/describe/)
RUN = "describe"
#: the concept set's name in the config
CONCEPT_SET = "concepts"
#: the template key of the method's prompt
TEMPLATE = "describe"


def folder_config(folder: str | os.PathLike, concepts_file: str | os.PathLike, *,
                  target: Mapping, layers: Sequence[str], method: str, settings: Mapping,
                  clip: tuple[str, str | None] | None = None,
                  views: Mapping | None = None, precision: str = "float32",
                  tokens: str = "mean", device: str = "auto", batch_size: int = 64,
                  workers: int = 0) -> dict:
    """The complete workflow config of a describe report.

    ``target``: a :func:`conceptlens.quick.target_spec` spec; ``settings``: the method's
    (:func:`conceptlens.quick.method_settings`, its ``template`` the prompt text);
    ``clip``: (open_clip name, pretrained) or None for the shipped world CLIP; ``views``:
    the ``views`` keys to set (centre fraction, Grad-CAM layer, window and class).
    """
    config = copy.deepcopy(default_config())
    config["run"] = RUN
    config["threads"] = max(1, os.cpu_count() or 1)
    config["device"], config["precision"] = device, precision
    config["batch_size"], config["loader_workers"] = batch_size, workers
    config["world_models"]["shipped_dir"] = str(shipped_path(WORLD_MODELS_DIR))
    spec = {k: v for k, v in target.items() if k != "path" or target["source"] != "world"}
    if spec["source"] == "world":
        spec.pop("input_size", None)
    config["target"] = {**spec, "tokens": tokens}
    config["probe"] = {"source": "folder", "path": str(Path(folder).expanduser().resolve())}
    config["layers"] = list(layers)
    config["views"].update(views or {})
    config["concept_sets"] = {CONCEPT_SET: str(Path(concepts_file).resolve())}
    if clip is not None:
        config["clip_models"] = {"world": {"name": clip[0], "pretrained": clip[1]}}
    config["templates"] = {**config["templates"], TEMPLATE: settings["template"]}
    config["methods"] = {method: {**{k: v for k, v in settings.items() if k != "template"},
                                  "template": TEMPLATE, "clip_model": "world"}}
    config["ablation"] = {}
    config["imported"] = {}
    config["stability"].update(layers=list(layers), concept_sets=None)
    config["report"].update(method=method, grid_methods={method: method},
                            concept_set=CONCEPT_SET, layers=None,
                            title=f"conceptlens describe: {Path(folder).name}")
    return config


def run_folder_report(config: Mapping, out_dir: str | os.PathLike,
                      cores: int | None = None) -> Path:
    """Write ``config`` to ``out_dir/config.yaml`` and run the workflow there; returns the
    run's folder (``out_dir/results/<run>/``, holding report.html, report.pdf, evidence/
    and report/explorer/).  A failed run raises SystemExit naming its log."""
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "config.yaml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(shipped_path("Snakefile")),
               "--directory", str(out), "--configfile", str(config_file),
               "--cores", str(cores or os.cpu_count() or 1)]
    log = out / "snakemake.log"
    # the jobs copy their progress lines to snakemake's output (CONCEPTLENS_PROGRESS)
    env = {**os.environ, PROGRESS_ENV: "console"}
    with open(log, "w", buffering=1) as stream, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
            bufsize=1) as proc:
        try:
            for line in proc.stdout:
                stream.write(line)
                if shown_on_terminal(line):
                    print(f"conceptlens describe: {line.strip()}", file=sys.stderr,
                          flush=True)
        except BaseException:  # Ctrl-C: the workflow stops too (as subprocess.run's)
            proc.kill()
            raise
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-15:]
        raise SystemExit("conceptlens describe --report: the workflow failed (" + str(log)
                         + "):\n" + "\n".join(tail))
    return out / "results" / config["run"]


#: snakemake's count of the jobs done, e.g. "13 of 18 steps (72%) done"
_STEPS = re.compile(r"^\d+ of \d+ steps \([\d.]+%\) done")


def shown_on_terminal(line: str) -> bool:
    """Whether a line of the workflow's output is also shown by ``describe --report``:
    snakemake's count of the steps done, and the jobs' progress lines
    (``conceptlens RULE: progress: ...``, :mod:`conceptlens.progress`); the rest stays in
    ``snakemake.log``."""
    return bool(_STEPS.match(line)) or (line.startswith("conceptlens ")
                                        and ": progress: " in line)
