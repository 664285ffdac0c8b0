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


# Each neuron's activation maps on its top images of the full view: the target runs once
# more, on the union of those images (a few per neuron), every described layer hooked.
rule neuron_maps:
    input:
        split=probe_dir(),
        activations=[results(f"activations/full/{layer}.npz") for layer in LAYERS],
        target=target_files(),
    output:
        maps=neuron_map_files(),
    log:
        results("logs/report/neuron_maps.log"),
    benchmark:
        results("benchmarks/report/neuron_maps.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        target=target_spec(),
        layers=LAYERS,
        n_top=REPORT["explorer_images"],
        settings=neuron_maps_settings(),
        device=config["device"],
    script:
        "../scripts/neuron_maps.py"


# The neuron explorer: a page of its own beside report.html (report/explorer/index.html).
rule explorer:
    input:
        unpack(explorer_inputs),
    output:
        directory(results("report/explorer")),
    log:
        results("logs/report/explorer.log"),
    benchmark:
        results("benchmarks/report/explorer.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        methods=list(METHODS),
        thumbnail_size=REPORT["thumbnail_size"],
        title=REPORT["title"],
    script:
        "../scripts/explorer.py"


rule report:
    input:
        unpack(report_inputs),
    output:
        html=report(
            results("report.html"),
            caption="../reports/captions/report.rst",
            category="Report",
            labels={"format": "HTML"},
        ),
        pdf=report(
            results("report.pdf"),
            caption="../reports/captions/report.rst",
            category="Report",
            labels={"format": "PDF"},
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
