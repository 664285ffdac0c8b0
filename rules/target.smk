# The target's pass: views, activations and top-k images of the target on the probe set.


# The target's pass over the probe set, one job (the target loads once): for each view
# (full, centre, a window around the Grad-CAM maximum), the crop boxes, the activations of
# the configured layers and the top-k images of each described neuron.
rule activations:
    input:
        split=probe_dir(),
        target=target_files(),
    output:
        boxes=view_files("views/{view}/boxes.parquet"),
        cams=results("views/gradcam/cams.npz"),
        activations=activation_outputs(),
        topk=view_files("topk/{view}/{layer}.npz", LAYERS),
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
