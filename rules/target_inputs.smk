# Outputs and params of the target's pass over the probe set (rules/target.smk).


def target_files():
    """Local files the target is loaded from (tracked as inputs); [] for hub weights."""
    if TARGET["source"] == "world":
        return [target_checkpoint()]
    return [TARGET["path"]] if TARGET["source"] == "checkpoint" else []


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
    """view -> the largest top-k set that any method on that view needs (1: none)."""
    return {
        view: max(
            [1]
            + [
                method_families.topk_size(m)
                for m in METHODS.values()
                if m["view"] == view
            ]
        )
        for view in VIEWS
    }


def target_pass_settings():
    """The target pass' settings (conceptlens.stages.target_pass.TargetPassSettings);
    no top-k sets: rule topk takes them from the activations."""
    views = config["views"]
    return {
        "layers": activation_layers_of_views(),
        "center_fraction": views["center_fraction"],
        "gradcam_fraction": views["gradcam_fraction"],
        "gradcam_layer": views["gradcam_layer"],
        "gradcam_target": views["gradcam_target"],
        "gradcam_peak": views["gradcam_peak"],
        "reduction": GROUND_TRUTH["reduction"],
        "tokens": TARGET["tokens"],
        "batch_size": config["batch_size"],
        "workers": config["loader_workers"],
        "precision": config["precision"],
        "image_size": WORLD["image_size"] if WORLD_PROBE else None,
    }
