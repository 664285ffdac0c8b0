# Input functions and params of the tuning job (rules/tuning.smk): what the methods with
# `kappa: tuned` read, on the world's tuning split instead of the probe split.
from conceptlens.tuning import tuned_methods


def tuning_concept_set():
    """The concept set whose text embeddings the sweep scores (tuning.concept_set, else the
    first concept set)."""
    return config["tuning"]["concept_set"] or next(iter(config["concept_sets"]))


def tuned_method_settings():
    """The tuned methods' settings, fitted to the tuning split's size as the probe's are."""
    tuned = {name: METHODS[name] for name in tuned_methods(METHODS)}
    return method_families.fit_to_probe(tuned, WORLD["tuning_images"])[0]


def tuning_text_file(clip):
    return results(f"clip/{clip}/text/{tuning_concept_set()}.npz")


def tuning_plan(wildcards):
    """The tuning job's plan (conceptlens.stages.tuning.tune_kappa): no file or setting of
    the probe split, only the tuning split's seed and size."""
    tuned = tuned_method_settings()
    clips = list(dict.fromkeys(m["clip_model"] for m in tuned.values()))
    tuning = config["tuning"]
    return {
        "methods": {
            name: {
                "settings": m,
                "clip": m["clip_model"],
                "text": tuning_text_file(m["clip_model"]),
            }
            for name, m in tuned.items()
        },
        "clips": {
            clip: {
                "clip": config["clip_models"][clip],
                "pretrained": clip_pretrained(clip),
            }
            for clip in clips
        },
        "layers": LAYERS,
        "kappas": tuning["kappas"],
        "criterion": tuning["criterion"],
        "tolerance": tuning["tolerance"],
        "gradcam_fractions": tuning["gradcam_fractions"],
        "pass": {k: v for k, v in target_pass_settings().items() if k != "layers"},
        "auroc_threshold": GROUND_TRUTH["auroc_threshold"],
        "split": {"seed": WORLD["tuning_seed"], "images": WORLD["tuning_images"]},
    }


def tuning_inputs(wildcards):
    """The tuning split, the target, the tuned methods' CLIP checkpoints and the concept
    set's text embeddings (concept texts only: no image of the probe split)."""
    clips = list(
        dict.fromkeys(m["clip_model"] for m in tuned_method_settings().values())
    )
    return {
        "split": world_split_dir("tuning"),
        "target": target_files(),
        "checkpoint": list(
            dict.fromkeys(f for clip in clips for f in clip_checkpoint_files_of(clip))
        ),
        "text": [tuning_text_file(clip) for clip in clips],
    }
