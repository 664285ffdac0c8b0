# Input functions and params of the CLIP embeddings (rules/clip.smk).


def clip_model_of(wildcards):
    return config["clip_models"][wildcards.clip]


def clip_pretrained_of(wildcards):
    return clip_pretrained(wildcards.clip)


def clip_checkpoint_files(wildcards):
    """Checkpoint files a CLIP job reads (tracked as inputs); [] for hub tags."""
    return clip_checkpoint_files_of(wildcards.clip)


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


def clip_image_sets(clip):
    """Every image set (``<view>.<subset>``) embedded with the CLIP model ``clip``: those of
    its methods and, for its methods' evidence and the stability CLIP, the full view's
    whole probe set."""
    sets = [
        image_set_of(name) for name, m in METHODS.items() if m["clip_model"] == clip
    ]
    # the evidence scores every method's descriptions on the full view's images
    if sets or (STABILITY_LAYERS and STABILITY["clip_model"] == clip):
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
