# What a run needs from outside the repository (weights, images, downloads), checked
# before any job starts; and the index of a real probe set (the world's probe split is its
# own index).


# The check is no job: a job's output would be an input of the others, and its re-run
# after a config change would make every finished output look out of date. It runs at the
# start of every run that executes jobs (not for dry runs), and stops it with one message
# naming each missing item and its config key (logs/check_requirements.log).
onstart:
    check_requirements_at_start(config, RESULTS)


rule probe_index:
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
        # the folder's content: an added, removed or replaced image re-runs the index
        content=probe_content(),
    script:
        "../scripts/probe_index.py"
