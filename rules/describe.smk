# Descriptions of the neurons: every method on every layer and concept set, and descriptions
# imported from other tools.


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


# The CSV is an input (an edited file re-runs the import and the metrics); the target's
# module names and recorded layer widths (activations/target.json) check its layers and
# units.
rule import_descriptions:
    input:
        csv=imported_source,
        target=results("activations/target.json"),
    output:
        results("imported/{imported}.parquet"),
    log:
        results("logs/import_descriptions/{imported}.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    params:
        settings=imported_settings,
        target_layers=imported_target_layers,
    script:
        "../scripts/import_descriptions.py"
