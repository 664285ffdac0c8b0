# Evidence for every description without ground truth: simulation and contrast on the half
# of the probe set the descriptions were not chosen on, against shuffled and constant
# descriptions, with the methods' agreement and the labels' stability; and, where there is
# ground truth, how well that evidence tells hits from misses.


rule evidence:
    input:
        unpack(evidence_inputs),
        stability=evidence_stability_files,
    output:
        table=results("evidence/{concepts}/table.parquet"),
        csv=results("evidence/{concepts}/table.csv"),
        summary=report(
            results("evidence/{concepts}/summary.csv"),
            caption="../reports/captions/evidence_summary.rst",
            category="Evidence",
            subcategory="{concepts}",
            labels={"table": "summary"},
        ),
        summary_json=results("evidence/{concepts}/summary.json"),
    log:
        results("logs/evidence/{concepts}.log"),
    benchmark:
        results("benchmarks/evidence/{concepts}.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    params:
        plan=evidence_plan,
        settings=config["evidence"],
    script:
        "../scripts/evidence.py"


rule evidence_check:
    input:
        evidence=results("evidence/{concepts}/table.parquet"),
        per_neuron=results("metrics/{concepts}/per_neuron.parquet"),
    output:
        csv=report(
            results("evidence/{concepts}/check.csv"),
            caption="../reports/captions/evidence_check.rst",
            category="Evidence",
            subcategory="{concepts}",
            labels={"table": "check against the ground truth"},
        ),
        json=results("evidence/{concepts}/check.json"),
    log:
        results("logs/evidence/{concepts}_check.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/evidence_check.py"
