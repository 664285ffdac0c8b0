# The target's pass: views, activations and top-k images of the target on the probe set.


# The target's pass over the probe set, one job (the target loads once): for each view
# (full, centre, a window around the Grad-CAM maximum), the crop boxes and the
# activations of the configured layers.
rule activations:
    input:
        split=probe_dir(),
        target=target_files(),
    output:
        boxes=view_files("views/{view}/boxes.parquet"),
        cams=results("views/gradcam/cams.npz"),
        activations=activation_outputs(),
        target=results("activations/target.json"),
    log:
        results("logs/activations.log"),
    benchmark:
        results("benchmarks/activations.tsv")
    priority: IMAGE_STAGES
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        settings=target_pass_settings(),
        target=target_spec(),
        device=config["device"],
    script:
        "../scripts/activations.py"


# The top-k images of each described neuron on each view, from the saved activations: a
# job of its own, so that a change of a method's k re-runs it and not the target's pass.
rule topk:
    input:
        activations=view_files("activations/{view}/{layer}.npz", LAYERS),
    output:
        view_files("topk/{view}/{layer}.npz", LAYERS),
    log:
        results("logs/topk.log"),
    benchmark:
        results("benchmarks/topk.tsv")
    priority: IMAGE_STAGES
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        k=max_k_of_views(),
    script:
        "../scripts/topk.py"
