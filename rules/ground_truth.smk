# The neurons' planted ground truth (computed from the activations on the full images).


rule neuron_ground_truth:
    input:
        split=probe_dir(),
        target=results("activations/target.json"),
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
        planted=PLANTED_GROUND_TRUTH,
    script:
        "../scripts/neuron_ground_truth.py"
