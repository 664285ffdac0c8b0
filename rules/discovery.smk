# The concept discovery DAG: views and activations of the target, CLIP embeddings, concept
# scores and descriptions, metrics.


# The target's pass over the probe set, one job (the target loads once): for each view
# (full, centre, a window around the Grad-CAM maximum), the crop boxes, the activations of
# the configured layers and the top-k images of each described neuron.
rule activations:
    input:
        split=probe_dir(),
        target=target_files(),
        checked=requirements_checked(),
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
        views=VIEWS,
        center_fraction=config["views"]["center_fraction"],
        gradcam_fraction=config["views"]["gradcam_fraction"],
        gradcam_layer=config["views"]["gradcam_layer"],
        gradcam_target=config["views"]["gradcam_target"],
        image_size=WORLD["image_size"] if WORLD_PROBE else None,
        layers=activation_layers_of_views(),
        k=max_k_of_views(),
        reduction=GROUND_TRUTH["reduction"],
        batch_size=config["batch_size"],
        workers=config["loader_workers"],
        target=target_spec(),
        device=config["device"],
        precision=config["precision"],
    script:
        "../scripts/activations.py"


# One job a CLIP model embeds every image set its methods (and the stability analysis) read.
rule clip_image_embeddings:
    input:
        unpack(clip_image_inputs),
        split=probe_dir(),
        checkpoint=clip_checkpoint_files,
    output:
        results("clip/{clip}/images.npz"),
    log:
        results("logs/clip_image_embeddings/{clip}.log"),
    benchmark:
        results("benchmarks/clip_image_embeddings/{clip}.tsv")
    priority: IMAGE_STAGES
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        plan=clip_image_plan,
        clip=clip_model_of,
        pretrained=clip_pretrained_of,
        batch_size=config["batch_size"],
        workers=config["loader_workers"],
        device=config["device"],
        precision=config["precision"],
    script:
        "../scripts/clip_image_embeddings.py"


rule concept_set:
    input:
        concept_set_source,
    output:
        results("concepts/{concepts}.txt"),
    log:
        results("logs/concept_set/{concepts}.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/concept_set.py"


# Downloads run on the submitting host (compute nodes of a cluster often have no internet).
rule download_concept_set:
    input:
        checked=requirements_checked(),
    output:
        f"{DOWNLOADS}/concept_sets/{{download}}.txt",
    log:
        f"{DOWNLOADS}/logs/{{download}}.log",
    retries: 2
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    params:
        url=concept_download_url,
    script:
        "../scripts/download_concept_set.py"


rule wordnet_concepts:
    input:
        checked=requirements_checked(),
    output:
        results("derived/wordnet_nouns.txt"),
    log:
        results("logs/wordnet_concepts.log"),
    benchmark:
        results("benchmarks/wordnet_concepts.tsv")
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/wordnet_concepts.py"


# One job a CLIP model and concept set embeds the concepts with every template it is used with.
rule clip_text_embeddings:
    input:
        concepts=results("concepts/{concepts}.txt"),
        checkpoint=clip_checkpoint_files,
        checked=requirements_checked(),
    output:
        results("clip/{clip}/text/{concepts}.npz"),
    log:
        results("logs/clip_text_embeddings/{clip}/{concepts}.log"),
    benchmark:
        results("benchmarks/clip_text_embeddings/{clip}/{concepts}.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        clip=clip_model_of,
        pretrained=clip_pretrained_of,
        templates=clip_templates_of,
        device=config["device"],
        precision=config["precision"],
    script:
        "../scripts/clip_text_embeddings.py"


# One job a concept set describes every layer with every method: the scores are cheap next
# to the embeddings, so the job is bound by its start-up and the shared inputs load once.
rule describe:
    input:
        unpack(describe_inputs),
    output:
        tables=description_outputs("parquet"),
        csvs=description_outputs("csv"),
        scores=description_outputs("scores.npy"),
    log:
        results("logs/describe/{concepts}.log"),
    benchmark:
        results("benchmarks/describe/{concepts}.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        plan=describe_plan,
    script:
        "../scripts/describe.py"


# The metric models embed every text a concept set's metrics compare, beside the scoring.
# The ground truth's texts are known before its table (ground_truth_text_sources), so the
# models load while the target's activations are still being recorded.
rule metric_text_embeddings:
    input:
        imported=imported_files,
        ground_truth_texts=ground_truth_text_sources(),
        concepts=results("concepts/{concepts}.txt"),
        checkpoint=metric_clip_checkpoint_files,
        checked=requirements_checked(),
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
        world_target=TARGET["source"] == "world",
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
        table1=results("metrics/{concepts}/table1.csv"),
        table1_json=results("metrics/{concepts}/table1.json"),
        ablation=results("metrics/{concepts}/ablation.csv"),
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


rule import_descriptions:
    input:
        imported_source,
    output:
        results("imported/{imported}.parquet"),
    log:
        results("logs/import_descriptions/{imported}.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    params:
        settings=imported_settings,
    script:
        "../scripts/import_descriptions.py"
