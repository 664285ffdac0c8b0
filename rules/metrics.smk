# The metrics: the metric models' text embeddings, then each concept set's tables.


# The metric models embed every text a concept set's metrics compare, beside the scoring.
# The ground truth's texts are known before its table (ground_truth_text_sources), so the
# models load while the target's activations are still being recorded.
rule metric_text_embeddings:
    input:
        imported=imported_files,
        ground_truth_texts=ground_truth_text_sources(),
        concepts=results("concepts/{concepts}.txt"),
        checkpoint=metric_clip_checkpoint_files,
    output:
        results("metrics/{concepts}/text_embeddings.npz"),
    log:
        results("logs/metric_text_embeddings/{concepts}.log"),
    benchmark:
        results("benchmarks/metric_text_embeddings/{concepts}.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        sentence_model=config["metrics"]["sentence_model"],
        clip=config["clip_models"][config["metrics"]["clip_model"]],
        pretrained=clip_pretrained(config["metrics"]["clip_model"]),
        device=config["device"],
        world_target=PLANTED_GROUND_TRUTH,
    script:
        "../scripts/metric_text_embeddings.py"


rule metrics:
    input:
        descriptions=all_description_files,
        imported=imported_files,
        ground_truth=results("ground_truth/neurons.parquet"),
        concepts=results("concepts/{concepts}.txt"),
        text_embeddings=results("metrics/{concepts}/text_embeddings.npz"),
    output:
        table1=report(
            results("metrics/{concepts}/table1.csv"),
            caption="../reports/captions/table1.rst",
            category="Metrics",
            subcategory="{concepts}",
            labels={"table": "Table 1"},
        ),
        table1_json=results("metrics/{concepts}/table1.json"),
        ablation=report(
            results("metrics/{concepts}/ablation.csv"),
            caption="../reports/captions/ablation.rst",
            category="Metrics",
            subcategory="{concepts}",
            labels={"table": "Table 2 (ablation)"},
        ),
        ablation_json=results("metrics/{concepts}/ablation.json"),
        per_neuron=results("metrics/{concepts}/per_neuron.parquet"),
    log:
        results("logs/metrics/{concepts}.log"),
    benchmark:
        results("benchmarks/metrics/{concepts}.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        methods=list(METHODS),
        layers=LAYERS,
        ablation=config.get("ablation", {}),
        sentence_model=config["metrics"]["sentence_model"],
        clip=config["clip_models"][config["metrics"]["clip_model"]],
    script:
        "../scripts/metrics.py"


# The seeds' claims over every concept set: paired differences of the ablation's methods
# over neurons, with bootstrap intervals (conceptlens.claims).
rule claims:
    input:
        per_neuron=expand(
            results("metrics/{concepts}/per_neuron.parquet"),
            concepts=config["concept_sets"],
        ),
        concepts=expand(
            results("concepts/{concepts}.txt"), concepts=config["concept_sets"]
        ),
    output:
        table=report(
            results("metrics/claims.csv"),
            caption="../reports/captions/claims.rst",
            category="Metrics",
            subcategory="all concept sets",
            labels={"table": "claims"},
        ),
        json=results("metrics/claims.json"),
    log:
        results("logs/claims.log"),
    benchmark:
        results("benchmarks/claims.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        ablation=config.get("ablation", {}),
        resamples=config["metrics"]["bootstrap_resamples"],
        seed=config["metrics"]["bootstrap_seed"],
    script:
        "../scripts/claims.py"
