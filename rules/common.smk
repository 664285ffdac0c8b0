# Configuration, validation and the helpers that turn config values into file names.
from pathlib import Path

from snakemake.utils import validate

import os
import sys

# Rule scripts import the conceptlens package from this workflow folder, whatever
# environment they run in (--sdm conda included).
_pythonpath = [str(Path(workflow.basedir)), os.environ.get("PYTHONPATH", "")]
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in _pythonpath if p))
sys.path.insert(0, str(Path(workflow.basedir)))

from conceptlens.concept_sets import BUILTIN_DOWNLOADS, DOWNLOADS_FOLDER, download_url
from conceptlens.config import (
    apply_base,
    check_config,
    method_settings,
    report_grid_methods,
    report_method,
)

apply_base(config, workflow.basedir)
validate(config, schema="../conceptlens/schemas/config.schema.yaml")
check_config(config)

RESULTS = f"results/{config['run']}"
# Concept-set downloads, shared by every run (sha256-checked, fetched once).
DOWNLOADS = f"results/{DOWNLOADS_FOLDER}"
THREADS = config["threads"]
WORLD = config["world"]
TARGET = config["target"]
PROBE = config["probe"]
WORLD_PROBE = PROBE["source"] == "world"
WORLD_MODELS = config["world_models"]
GROUND_TRUTH = config["ground_truth"]
LAYERS = config["layers"]
METHODS = method_settings(config)
STABILITY = config["stability"]
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
    split="probe|train",
    view="full|center|gradcam",
    method="|".join(METHODS) or "NO_METHOD",
    concepts="[A-Za-z0-9_.-]+",
    clip="[A-Za-z0-9_.-]+",
    imported="[A-Za-z0-9_.-]+",
    function="soft_wpmi|wpmi",
    download="|".join(BUILTIN_DOWNLOADS),
    layer="[A-Za-z0-9_.]+",


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


def target_spec():
    """The target's spec for conceptlens.models.zoo.load_target (paths resolved)."""
    if TARGET["source"] == "world":
        return {
            "source": "world",
            "path": target_checkpoint(),
            "input_size": WORLD["image_size"],
        }
    return {**TARGET, "input_size": TARGET["input_size"] or 224}


def target_files():
    """Local files the target is loaded from (tracked as inputs); [] for hub weights."""
    if TARGET["source"] == "world":
        return [target_checkpoint()]
    return [TARGET["path"]] if TARGET["source"] == "checkpoint" else []


def requirements_config():
    """The parts of the config that the requirements check reads (its params): a change
    elsewhere (a stride, a report setting) does not re-run it.  That also keeps most config
    changes clear of snakemake/snakemake#4166, where the re-run of an ancient() input's job
    holds back the other jobs a change affects until the next call."""
    keep = ("run", "target", "probe", "clip_models", "metrics", "concept_sets")
    return {
        **{key: config[key] for key in keep},
        "concept_downloads": config["concept_downloads"],
        # which CLIP models the methods use, not which methods there are
        "methods": {
            f"uses_{clip}": {"clip_model": clip}
            for clip in sorted(
                {m.get("clip_model", "world") for m in config["methods"].values()}
            )
        },
        "stability": {"clip_model": STABILITY["clip_model"]},
        "convis": {
            "clip_model": CONVIS["clip_model"],
            "hierarchy": CONVIS["hierarchy"],
        },
    }


def requirements_checked():
    """The check that every weight and data set is here; ancient() so that a re-check
    (after a config change) never makes finished outputs look out of date."""
    return ancient(results("checks/requirements.json"))


def class_names_file():
    """Concept set whose line i names class i (fc ground truth of real targets); []."""
    key = TARGET["class_names"]
    if key is None or WORLD_PROBE:
        return []
    if key == "wnids":
        return [results("derived/class_synonyms.txt")]
    return [results(f"concepts/{key}.txt")]


def ground_truth_text_sources():
    """What the texts a ground-truth table can name are read from, before the table
    exists: nothing for the world target (its vocabulary), else the class-names file or,
    without one, the target's class names (activations/target.json)."""
    if TARGET["source"] == "world":
        return []
    return class_names_file() or [results("activations/target.json")]


def clip_checkpoint():
    return f"{world_models_dir()}/clip.pt"


def activation_files(view):
    return [results(f"activations/{view}/{layer}.npz") for layer in LAYERS]


VIEWS = ["full", "center", "gradcam"]


def view_files(pattern, layers=()):
    """``pattern``'s files for every view (view-major), and every layer when it has one."""
    if "{layer}" in pattern:
        return expand(results(pattern), view=VIEWS, layer=layers)
    return expand(results(pattern), view=VIEWS)


def activation_layers_of_views():
    """view -> the layers its activations are recorded for: the described ones, and on
    the full view also the stability analysis' layers."""
    return {view: ACTIVATION_LAYERS if view == "full" else LAYERS for view in VIEWS}


def activation_outputs():
    """Every activations file of the target's pass, view by view."""
    return [
        results(f"activations/{view}/{layer}.npz")
        for view, layers in activation_layers_of_views().items()
        for layer in layers
    ]


def max_k_of_views():
    """view -> the largest k that any WWW-family method on that view asks for (1: none)."""
    return {
        view: max(
            (
                m["k"]
                for m in METHODS.values()
                if m["family"] == "www" and m["view"] == view
            ),
            default=1,
        )
        for view in VIEWS
    }


def clip_model_of(wildcards):
    return config["clip_models"][wildcards.clip]


def concept_set_source(wildcards):
    """The file a concept set is copied from: the configured path, the sha256-checked
    download, or the set derived from WordNet ([] for the world, built by world_concepts).
    """
    name = wildcards.concepts
    path = config["concept_sets"][name]
    if path is not None:
        return [path]
    if name in BUILTIN_DOWNLOADS:
        return [f"{DOWNLOADS}/concept_sets/{name}.txt"]
    if name == "wordnet":
        return [results("derived/wordnet_nouns.txt")]
    return []


def concept_download_url(wildcards):
    return download_url(wildcards.download, config["concept_downloads"]["mirror"])


def clip_templates_of(wildcards):
    """Template key -> text, for every template the CLIP model ``wildcards.clip`` is used
    with on a concept set: by its methods and, for the stability CLIP on a concept set of the
    stability analysis, the stability template."""
    keys = [
        m["template"] for m in METHODS.values() if m["clip_model"] == wildcards.clip
    ]
    stability = STABILITY_LAYERS and wildcards.concepts in STABILITY_CONCEPT_SETS
    if stability and STABILITY["clip_model"] == wildcards.clip:
        keys.append(STABILITY["template"])
    return {key: config["templates"][key] for key in dict.fromkeys(keys)}


def image_set_of(method):
    """The CLIP image set a method reads: its view's top-k images (WWW family) or the
    whole probe set (CLIP-Dissect)."""
    m = METHODS[method]
    return f"{m['view']}.{'topk' if m['family'] == 'www' else 'all'}"


def clip_image_sets(clip):
    """Every image set (``<view>.<subset>``) embedded with the CLIP model ``clip``: those of
    its methods and, for the stability CLIP, the full view's whole probe set."""
    sets = [
        image_set_of(name) for name, m in METHODS.items() if m["clip_model"] == clip
    ]
    if STABILITY_LAYERS and STABILITY["clip_model"] == clip:
        sets.append("full.all")
    return list(dict.fromkeys(sets))


def clip_image_plan(wildcards):
    """What a clip_image_embeddings job embeds: each image set with its view's boxes and,
    for a top-k set, the top-k files whose images it takes."""
    plan = []
    for name in clip_image_sets(wildcards.clip):
        view, subset = name.split(".")
        topk = [results(f"topk/{view}/{layer}.npz") for layer in LAYERS]
        plan.append(
            {
                "name": name,
                "view": view,
                "subset": subset,
                "boxes": results(f"views/{view}/boxes.parquet"),
                "topk": topk if subset == "topk" else [],
            }
        )
    return plan


def clip_image_inputs(wildcards):
    """The boxes and top-k files of a clip_image_embeddings job, each named once."""
    plan = clip_image_plan(wildcards)
    return {
        "boxes": list(dict.fromkeys(s["boxes"] for s in plan)),
        "topk": list(dict.fromkeys(f for s in plan for f in s["topk"])),
    }


def method_inputs(method, concepts, layer):
    """Input files of one method on one layer and concept set."""
    m = METHODS[method]
    clip = f"clip/{m['clip_model']}"
    inputs = {
        "text": results(f"{clip}/text/{concepts}.npz"),
        "concepts": results(f"concepts/{concepts}.txt"),
    }
    inputs["images"] = results(f"{clip}/images.npz")
    if m["family"] == "www":
        inputs["topk"] = results(f"topk/{m['view']}/{layer}.npz")
    else:
        inputs["activations"] = results(f"activations/{m['view']}/{layer}.npz")
    return inputs


def description_outputs(suffix):
    """One describe job's files of a kind (parquet, csv, scores.npy): every method on every
    layer, in the order of describe_plan."""
    return [
        results(f"descriptions/{{concepts}}/{method}/{layer}.{suffix}")
        for method in METHODS
        for layer in LAYERS
    ]


def describe_plan(wildcards):
    """What the describe job of a concept set computes: for each method and layer, its
    settings and input files (outputs follow description_outputs' order)."""
    return [
        {
            "method": method,
            "layer": layer,
            "settings": METHODS[method],
            "image_set": image_set_of(method),
            "template": METHODS[method]["template"],
            "inputs": method_inputs(method, wildcards.concepts, layer),
        }
        for method in METHODS
        for layer in LAYERS
    ]


def describe_inputs(wildcards):
    """Every file of a concept set's describe job, each named once, by kind."""
    kinds = {}
    for step in describe_plan(wildcards):
        for kind, path in step["inputs"].items():
            kinds.setdefault(kind, [])
            if path not in kinds[kind]:
                kinds[kind].append(path)
    return kinds


def description_files(concepts, method):
    return [
        results(f"descriptions/{concepts}/{method}/{layer}.parquet") for layer in LAYERS
    ]


def all_description_files(wildcards):
    return [
        f for method in METHODS for f in description_files(wildcards.concepts, method)
    ]


def metric_clip_checkpoint_files(wildcards):
    """Checkpoint files of the metric CLIP (tracked as inputs); [] for hub tags."""
    return clip_checkpoint_files_of(config["metrics"]["clip_model"])


def all_outputs():
    """Every final output of this configuration."""
    outputs = [
        probe_dir(),
        results("ground_truth/neurons.parquet"),
        results("ground_truth/neurons.csv"),
    ]
    if WORLD_PROBE:
        outputs += [
            results("world/sample_grid.png"),
            results("concepts/world.txt"),
            results("concepts/world_hierarchy.tsv"),
        ]
    for concepts in config["concept_sets"]:
        if METHODS:
            outputs.append(results(f"metrics/{concepts}/table1.csv"))
            outputs.append(results(f"metrics/{concepts}/table1.json"))
        if config.get("ablation"):
            outputs.append(results(f"metrics/{concepts}/ablation.csv"))
    if WORLD_MODELS["source"] == "train":
        outputs.append(results("models/quality.json"))
    outputs += stability_outputs() + convis_outputs()
    if METHODS:
        outputs += [results("report.html"), results("report.pdf")]
    return outputs


# ---------------------------------------------------------------- stability and ConVis


def stability_summary_files():
    """One summary per (concept set, similarity function) of the stability analysis."""
    return [
        results(f"stability/{concepts}/{function}.json")
        for concepts in STABILITY_CONCEPT_SETS
        for function in STABILITY["functions"]
    ]


def stability_outputs():
    if not stability_summary_files():
        return []
    return [results(f"stability/{name}") for name in STABILITY_TABLE_FILES]


STABILITY_TABLE_FILES = ("table.csv", "table.json", "chart.png", "chart.svg")


def stability_text_embeddings(wildcards):
    clip = STABILITY["clip_model"]
    return results(f"clip/{clip}/text/{wildcards.concepts}.npz")


def stability_activation_files(wildcards):
    return [results(f"activations/full/{layer}.npz") for layer in STABILITY_LAYERS]


def convis_outputs():
    """The localisation table needs the world's object boxes: world probe sets only."""
    if not WORLD_PROBE:
        return []
    return [results("convis/localisation.csv"), results("convis/localisation.json")]


def hierarchy_file():
    """The concept hierarchy whose nodes ConVis ranks."""
    return results(f"concepts/{CONVIS['hierarchy']}_hierarchy.tsv")


def convis_clip_checkpoint_files(wildcards):
    return clip_checkpoint_files_of(CONVIS["clip_model"])


# ---------------------------------------------------------------------------- report


def report_description_files(wildcards):
    """Descriptions shown in the neuron grids (every grid method, every report layer)."""
    methods = list(dict.fromkeys([*REPORT_GRID_METHODS.values(), REPORT_METHOD]))
    return [
        f
        for concepts in config["concept_sets"]
        for m in methods
        for f in description_files(concepts, m)
    ]


def report_view_of(method):
    return METHODS[method]["view"]


def report_topk_files(wildcards):
    """Top-k sets of the views whose top images the grids show."""
    views = ["center", "gradcam", report_view_of(REPORT_METHOD)]
    return [
        results(f"topk/{view}/{layer}.npz")
        for view in dict.fromkeys(views)
        for layer in REPORT_LAYERS
    ]


def report_neuron_files(wildcards):
    return {
        "per_neuron": results(f"metrics/{REPORT_CONCEPT_SET}/per_neuron.parquet"),
        "descriptions": [
            results(
                f"descriptions/{REPORT_CONCEPT_SET}/{REPORT_METHOD}/{layer}.parquet"
            )
            for layer in REPORT_LAYERS
        ],
        "topk": [
            results(f"topk/{report_view_of(REPORT_METHOD)}/{layer}.npz")
            for layer in REPORT_LAYERS
        ],
    }


def report_inputs(wildcards):
    """Every file the report reads; sections without inputs are left out."""
    sets = list(config["concept_sets"])
    inputs = {
        "table1": [results(f"metrics/{c}/table1.csv") for c in sets],
        "ablation": (
            [results(f"metrics/{c}/ablation.csv") for c in sets]
            if config.get("ablation")
            else []
        ),
        "per_neuron": [results(f"metrics/{c}/per_neuron.parquet") for c in sets],
        "ground_truth": results("ground_truth/neurons.parquet"),
        "descriptions": report_description_files(wildcards),
        "neurons": results("report/neurons.json"),
        "topk": report_topk_files(wildcards),
        "boxes": [
            results(f"views/{view}/boxes.parquet") for view in ("center", "gradcam")
        ],
        "split": probe_dir(),
        "localisation": convis_outputs()[:1],
        "neuron_maps": [results("convis/neuron_maps.npz")],
    }
    stability = stability_outputs()
    inputs["stability_table"] = stability[:1]
    inputs["stability_png"] = stability[2:3]
    inputs["stability_svg"] = stability[3:4]
    return inputs


def report_settings():
    return {
        "run": config["run"],
        "title": REPORT["title"],
        "config": config,
        "published": REPORT["published"],
        "published_stability": REPORT["published_stability"],
        "grid_methods": REPORT_GRID_METHODS,
        "top_images": REPORT["top_images"],
        "figure4_images": REPORT["figure4_images"],
        "pdf_description_rows": REPORT["pdf_description_rows"],
        "benchmarks_dir": results("benchmarks"),
    }


def world_split_seed(wildcards):
    return WORLD["probe_seed"] if wildcards.split == "probe" else WORLD["train_seed"]


def world_split_size(wildcards):
    return (
        WORLD["probe_images"] if wildcards.split == "probe" else WORLD["train_images"]
    )


def clip_pretrained(key):
    """The `pretrained` of a CLIP model: the run's world checkpoint for the world CLIP
    without one, else the configured tag or path (None = random weights)."""
    entry = config["clip_models"][key]
    if entry.get("pretrained") is None and entry["name"] == "conceptlens-world-clip":
        return clip_checkpoint()
    return entry.get("pretrained")


def clip_pretrained_of(wildcards):
    return clip_pretrained(wildcards.clip)


def clip_checkpoint_files(wildcards):
    """Checkpoint files a CLIP job reads (tracked as inputs); [] for hub tags."""
    return clip_checkpoint_files_of(wildcards.clip)


def clip_checkpoint_files_of(key):
    pretrained = clip_pretrained(key)
    return (
        [pretrained]
        if pretrained and Path(pretrained).suffix in (".pt", ".bin")
        else []
    )


def imported_source(wildcards):
    return config["imported"][wildcards.imported]["path"]


def imported_settings(wildcards):
    return config["imported"][wildcards.imported]


def imported_files(wildcards):
    return [results(f"imported/{name}.parquet") for name in config["imported"]]
