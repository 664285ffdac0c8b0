# The shareable report: neurons chosen for the grids, then report.html and report.pdf.


rule report_neurons:
    input:
        unpack(report_neuron_files),
    output:
        results("report/neurons.json"),
    log:
        results("logs/report/neurons.log"),
    priority: CRITICAL_PATH
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    params:
        layers=REPORT_LAYERS,
        method=REPORT_METHOD,
        view=report_view_of(REPORT_METHOD) if REPORT_METHOD else None,
        concept_set=REPORT_CONCEPT_SET,
        choose=REPORT["choose"],
        top_images=REPORT["top_images"],
        seed=REPORT["seed"],
    script:
        "../scripts/report_neurons.py"


rule report:
    input:
        unpack(report_inputs),
    output:
        html=report(
            results("report.html"),
            caption="../reports/caption.rst",
            category="Report",
        ),
        pdf=report(
            results("report.pdf"),
            caption="../reports/caption.rst",
            category="Report",
        ),
    log:
        results("logs/report/report.log"),
    benchmark:
        results("benchmarks/report/report.tsv")
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    params:
        settings=report_settings(),
    script:
        "../scripts/report.py"
