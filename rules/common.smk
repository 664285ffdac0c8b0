# Shared by every stage: the config (loaded, checked), the constants and wildcard
# constraints derived from it, and the helpers that rules of several stages use (paths
# of the run, the target and CLIP checkpoints, description files, every final output).
# Helpers of one stage only live in its rules/<stage>_inputs.smk, included right before
# the stage's rules/<stage>.smk.
from pathlib import Path

import os
import sys

from conceptlens.shipped import package_root, resolve_shipped_dir

# Rule scripts import the conceptlens package of this workflow folder (CONCEPTLENS_DIR,
# set by the Snakefile), whatever environment they run in (--sdm conda included).
_pythonpath = [str(package_root(CONCEPTLENS_DIR)), os.environ.get("PYTHONPATH", "")]
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in _pythonpath if p))

from conceptlens.parent_watch import record_snakemake

# Jobs stop when this snakemake process is gone, even after a kill -9 (set at every parse:
# a cluster job watches its own snakemake process on its node).
record_snakemake()

from conceptlens.concept_sets import (
    BUILTIN_DOWNLOADS,
    DOWNLOADS_FOLDER,
    WORLD_PLUS_SETS,
    download_url,
)
from conceptlens.probes import probe_state
from conceptlens import methods as method_families
from conceptlens.config import (
    apply_base,
    check_config,
    config_sources,
    fit_stability_to_probe,
    report_grid_methods,
    report_method,
    untuned_off_world,
    validate_config,
)
from conceptlens.input_files import check_input_files

# base: files are the workflow folder's (config.yaml, configs/...), wherever it runs.
apply_base(config, CONCEPTLENS_DIR)
# A bad key or value stops the parse with a few lines: its path, what it allows, the files.
validate_config(
    config,
    config_sources(
        workflow.configfiles, workflow.config_settings.config, CONCEPTLENS_DIR
    ),
)
# The shipped world models: relative to the working directory when they are there (a
# checkout run in place), else to the workflow folder (-s/-d runs, modules, a wheel).
config["world_models"]["shipped_dir"] = resolve_shipped_dir(
    config["world_models"]["shipped_dir"], CONCEPTLENS_DIR
)
check_config(config)
# Imported CSVs that are not there, and checkpoints whose bytes show they are none, stop
# the parse (a dry run too) with one line each naming the key.
check_input_files(config)

RESULTS = f"results/{config['run']}"
# Concept-set downloads, shared by every run (sha256-checked, fetched once).
DOWNLOADS = f"results/{DOWNLOADS_FOLDER}"
THREADS = config["threads"]
WORLD = config["world"]
TARGET = config["target"]
PROBE = config["probe"]
WORLD_PROBE = PROBE["source"] == "world"
# The planted ground truth (every layer's units): the world target on the world probe set.
# The world target on a folder of images has its fc classes' names only, like a real one.
PLANTED_GROUND_TRUTH = TARGET["source"] == "world" and WORLD_PROBE
WORLD_MODELS = config["world_models"]
GROUND_TRUTH = config["ground_truth"]
LAYERS = config["layers"]
# A real probe folder's image count and fingerprint (paths, sizes, modification times):
# the index depends on its content, and image counts larger than it are fitted to it.
PROBE_STATE = None if WORLD_PROBE else probe_state(PROBE)
PROBE_SIZE = (
    config["world"]["probe_images"] if WORLD_PROBE else (PROBE_STATE or [None])[0]
)
# config.yaml's `kappa: tuned` needs the world's planted ground truth: another model's
# run (an overlay of config.yaml) gets the paper's kappa, with a note.
METHODS, FIT_NOTES = untuned_off_world(config, method_families.method_settings(config))
# Settings fitted to the probe set (k, top_k, top_fraction, stability's ks larger than
# it), one note each, printed here and shown in the report.
STABILITY = config["stability"]
if PROBE_SIZE:
    METHODS, _method_notes = method_families.fit_to_probe(METHODS, PROBE_SIZE)
    STABILITY, _stability_notes = fit_stability_to_probe(STABILITY, PROBE_SIZE)
    FIT_NOTES += _method_notes + _stability_notes
for _note in FIT_NOTES:
    logger.warning(f"conceptlens: {_note}")
STABILITY_LAYERS = (STABILITY["layers"] or LAYERS) if STABILITY["functions"] else []
STABILITY_CONCEPT_SETS = STABILITY["concept_sets"] or list(config["concept_sets"])
# Layers recorded on the full view: the described ones and the stability ones.
ACTIVATION_LAYERS = LAYERS + [l for l in STABILITY_LAYERS if l not in LAYERS]
CONVIS = config["convis"]
CONVIS_CLIP = config["clip_models"][CONVIS["clip_model"]]["name"]
REPORT = config["report"]
REPORT_METHOD = report_method(config, METHODS)
REPORT_GRID_METHODS = report_grid_methods(config, METHODS)
REPORT_CONCEPT_SET = REPORT["concept_set"] or next(iter(config["concept_sets"]))
REPORT_LAYERS = REPORT["layers"] or LAYERS
# Priority of every job that the report's ConVis maps wait on (world, views, activations,
# embeddings, scores, ground truth, metrics, grid neurons): when cores are scarce they run
# before the side jobs (sample grid, stability, localisation) that only the report reads.
CRITICAL_PATH = 10
# Higher still: the image stages (probe split, the target's pass, CLIP image embeddings),
# the longest chain, start before the text embeddings that wait beside them.
IMAGE_STAGES = 20


wildcard_constraints:
    split="probe|train|tuning",
    view="full|center|gradcam",
    method="|".join(METHODS) or "NO_METHOD",
    concepts="[A-Za-z0-9_.-]+",
    clip="[A-Za-z0-9_.-]+",
    imported="[A-Za-z0-9_.-]+",
    function="soft_wpmi|wpmi",
    download="|".join(BUILTIN_DOWNLOADS),
    plus="|".join(WORLD_PLUS_SETS),
    layer="[A-Za-z0-9_.]+",


# -------------------------------------------------------------------- paths of this run


def results(path):
    """A path under this run's results folder."""
    return f"{RESULTS}/{path}"


def world_split_dir(split):
    return results(f"world/{split}")


def world_models_dir():
    """Where the world checkpoints come from: the shipped ones or this run's training."""
    if WORLD_MODELS["source"] == "shipped":
        return WORLD_MODELS["shipped_dir"]
    return results("models")


def target_checkpoint():
    return f"{world_models_dir()}/target.pt"


def probe_dir():
    """The probe directory (attributes.parquet): the world's split or this run's index."""
    return world_split_dir("probe") if WORLD_PROBE else results("probe")


# ------------------------------------------------------ the target and its requirements


def target_spec():
    """The target's spec for conceptlens.models.zoo.load_target (paths resolved)."""
    if TARGET["source"] == "world":
        return {
            "source": "world",
            "path": target_checkpoint(),
            "input_size": WORLD["image_size"],
        }
    return {**TARGET, "input_size": TARGET["input_size"] or 224}


def class_names_file():
    """Concept set whose line i names class i (fc ground truth of real targets); []."""
    key = TARGET["class_names"]
    if key is None or WORLD_PROBE:
        return []
    if key == "wnids":
        return [results("derived/class_synonyms.txt")]
    return [results(f"concepts/{key}.txt")]


# --------------------------------------------------------------------- CLIP checkpoints


def clip_checkpoint():
    return f"{world_models_dir()}/clip.pt"


def clip_pretrained(key):
    """The `pretrained` of a CLIP model: the run's world checkpoint for the world CLIP
    without one, else the configured tag or path (None = random weights)."""
    entry = config["clip_models"][key]
    if entry.get("pretrained") is None and entry["name"] == "conceptlens-world-clip":
        return clip_checkpoint()
    return entry.get("pretrained")


def clip_checkpoint_files_of(key):
    pretrained = clip_pretrained(key)
    return (
        [pretrained]
        if pretrained and Path(pretrained).suffix in (".pt", ".bin")
        else []
    )


# ------------------------------------------------------------- methods and descriptions


def image_set_of(method):
    """The CLIP image set a method reads (conceptlens.methods.image_set)."""
    return method_families.image_set(METHODS[method])


def description_files(concepts, method):
    return [
        results(f"descriptions/{concepts}/{method}/{layer}.parquet") for layer in LAYERS
    ]
