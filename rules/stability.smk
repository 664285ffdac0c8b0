# Stability of CLIP-Dissect labels over k and probe sub-samples, and its table and chart.


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
        csv=report(
            results("stability/table.csv"),
            caption="../reports/captions/stability_table.rst",
            category="Stability",
            labels={"item": "table"},
        ),
        json=results("stability/table.json"),
        png=results("stability/chart.png"),
        svg=report(
            results("stability/chart.svg"),
            caption="../reports/captions/stability_chart.rst",
            category="Stability",
            labels={"item": "chart"},
        ),
    log:
        results("logs/stability/table.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/stability_table.py"
