# CLIP embeddings: of the probe images each CLIP model's methods read, and of the concept sets.


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


# One job a CLIP model and concept set embeds the concepts with every template it is used with.
rule clip_text_embeddings:
    input:
        concepts=results("concepts/{concepts}.txt"),
        checkpoint=clip_checkpoint_files,
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
