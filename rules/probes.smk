# What a run needs from outside the repository (weights, images, downloads), checked first;
# and the index of a real probe set (the world's probe split is its own index).


rule check_requirements:
    output:
        results("checks/requirements.json"),
    log:
        results("logs/check_requirements.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    params:
        config=requirements_config(),
    script:
        "../scripts/check_requirements.py"


rule probe_index:
    input:
        checked=requirements_checked(),
    output:
        directory(results("probe")),
    log:
        results("logs/probe_index.log"),
    benchmark:
        results("benchmarks/probe_index.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: 1
    params:
        probe=PROBE,
    script:
        "../scripts/probe_index.py"
