# Activations of the target on a view of the probe images, and the neurons' planted
# ground truth (computed on the full images).


rule activations:
    input:
        split=probe_dir(),
        boxes=results("views/{view}/boxes.parquet"),
        target=target_files(),
    output:
        activations=expand(
            results("activations/{{view}}/{layer}.npz"), layer=ACTIVATION_LAYERS
        ),
        topk=expand(results("topk/{{view}}/{layer}.npz"), layer=LAYERS),
    log:
        results("logs/activations/{view}.log"),
    benchmark:
        results("benchmarks/activations/{view}.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        layers=ACTIVATION_LAYERS,
        k=max_k_of_view,
        reduction=GROUND_TRUTH["reduction"],
        batch_size=config["batch_size"],
        workers=config["loader_workers"],
        target=target_spec(),
        device=config["device"],
        precision=config["precision"],
    script:
        "../scripts/activations.py"


rule neuron_ground_truth:
    input:
        split=probe_dir(),
        target=target_files(),
        activations=activation_files("full"),
        class_names=class_names_file(),
    output:
        parquet=results("ground_truth/neurons.parquet"),
        csv=results("ground_truth/neurons.csv"),
    log:
        results("logs/neuron_ground_truth.log"),
    benchmark:
        results("benchmarks/neuron_ground_truth.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        layers=LAYERS,
        auroc_threshold=GROUND_TRUTH["auroc_threshold"],
        target=target_spec(),
    script:
        "../scripts/neuron_ground_truth.py"


# target.class_names: wnids = class i named by the WordNet lemmas of the probe's i-th wnid.
rule wnid_class_names:
    input:
        split=probe_dir(),
    output:
        results("derived/class_synonyms.txt"),
    log:
        results("logs/wnid_class_names.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/wnid_class_names.py"
