# Activations of the target on a view of the probe images, and the neurons' planted
# ground truth (computed on the full images).


rule activations:
    input:
        split=world_split_dir("probe"),
        boxes=results("views/{view}/boxes.parquet"),
        target=target_checkpoint(),
    output:
        expand(results("activations/{{view}}/{layer}.npz"), layer=ACTIVATION_LAYERS),
    log:
        results("logs/activations/{view}.log"),
    benchmark:
        results("benchmarks/activations/{view}.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        layers=ACTIVATION_LAYERS,
        reduction=GROUND_TRUTH["reduction"],
        batch_size=config["batch_size"],
        workers=config["loader_workers"],
        image_size=WORLD["image_size"],
        device=config["device"],
    script:
        "../scripts/activations.py"


rule neuron_ground_truth:
    input:
        split=world_split_dir("probe"),
        target=target_checkpoint(),
        activations=activation_files("full"),
    output:
        parquet=results("ground_truth/neurons.parquet"),
        csv=results("ground_truth/neurons.csv"),
    log:
        results("logs/neuron_ground_truth.log"),
    benchmark:
        results("benchmarks/neuron_ground_truth.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        layers=LAYERS,
        auroc_threshold=GROUND_TRUTH["auroc_threshold"],
    script:
        "../scripts/neuron_ground_truth.py"
