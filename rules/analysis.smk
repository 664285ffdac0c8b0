# Analyses beyond the descriptions: stability of CLIP-Dissect labels over k and probe
# sub-samples, and ConVis concept saliency maps with their localisation table.


rule stability:
    input:
        activations=stability_activation_files,
        images=results(f"clip/{STABILITY['clip_model']}/images.npz"),
        text=stability_text_embeddings,
    output:
        per_neuron=expand(
            results("stability/{{concepts}}/{function}.parquet"),
            function=STABILITY["functions"],
        ),
        summary=expand(
            results("stability/{{concepts}}/{function}.json"),
            function=STABILITY["functions"],
        ),
    log:
        results("logs/stability/{concepts}.log"),
    benchmark:
        results("benchmarks/stability/{concepts}.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        functions=STABILITY["functions"],
        clip=STABILITY["clip_model"],
        template=STABILITY["template"],
        layers=STABILITY_LAYERS,
        ks=STABILITY["ks"],
        top=STABILITY["top"],
        subsample=STABILITY["subsample"],
        probe=PROBE["source"],
    script:
        "../scripts/stability.py"


rule stability_table:
    input:
        summaries=stability_summary_files(),
    output:
        csv=results("stability/table.csv"),
        json=results("stability/table.json"),
        png=results("stability/chart.png"),
        svg=results("stability/chart.svg"),
    log:
        results("logs/stability/table.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/stability_table.py"


rule convis_localisation:
    input:
        split=probe_dir(),
        cams=results("views/gradcam/cams.npz"),
        hierarchy=hierarchy_file(),
        checkpoint=convis_clip_checkpoint_files,
    output:
        csv=results("convis/localisation.csv"),
        json=results("convis/localisation.json"),
        maps=results("convis/localisation_maps.npz"),
    log:
        results("logs/convis/localisation.log"),
    benchmark:
        results("benchmarks/convis/localisation.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        clip=CONVIS_CLIP,
        pretrained=clip_pretrained(CONVIS["clip_model"]),
        node_text=CONVIS["node_text"],
        template=CONVIS["template"],
        window_sizes=CONVIS["window_sizes"],
        stride=CONVIS["stride"],
        reference_size=CONVIS["reference_size"],
        batch_size=CONVIS["batch_size"],
        device=config["device"],
        precision=config["precision"],
        images=CONVIS["evaluation_images"],
        seed=CONVIS["seed"],
    script:
        "../scripts/convis_localisation.py"


rule convis_maps:
    input:
        neurons=results("report/neurons.json"),
        split=probe_dir(),
        hierarchy=hierarchy_file(),
        checkpoint=convis_clip_checkpoint_files,
    output:
        results("convis/neuron_maps.npz"),
    log:
        results("logs/convis/neuron_maps.log"),
    benchmark:
        results("benchmarks/convis/neuron_maps.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        clip=CONVIS_CLIP,
        pretrained=clip_pretrained(CONVIS["clip_model"]),
        node_text=CONVIS["node_text"],
        template=CONVIS["template"],
        window_sizes=CONVIS["window_sizes"],
        stride=CONVIS["stride"],
        reference_size=CONVIS["reference_size"],
        batch_size=CONVIS["batch_size"],
        device=config["device"],
        precision=config["precision"],
    script:
        "../scripts/convis_maps.py"


rule wordnet_hierarchy:
    output:
        results("concepts/wordnet_hierarchy.tsv"),
    log:
        results("logs/concepts/wordnet_hierarchy.log"),
    benchmark:
        results("benchmarks/concepts/wordnet_hierarchy.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        root=CONVIS["wordnet_root"],
    script:
        "../scripts/wordnet_hierarchy.py"
