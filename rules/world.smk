# The synthetic concept world: its image splits and a sample figure (its concept set and
# hierarchy: rules/concept_sets.smk).


rule world_split:
    output:
        directory(results("world/{split}")),
    log:
        results("logs/world_split/{split}.log"),
    benchmark:
        results("benchmarks/world_split/{split}.tsv")
    priority: IMAGE_STAGES
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    params:
        seed=world_split_seed,
        n_images=world_split_size,
        image_size=WORLD["image_size"],
        central_distractor_probability=WORLD["central_distractor_probability"],
    script:
        "../scripts/world_split.py"


rule world_sample_grid:
    input:
        split=world_split_dir("probe"),
    output:
        report(
            results("world/sample_grid.png"),
            caption="../reports/captions/world_sample_grid.rst",
            category="World",
        ),
    log:
        results("logs/world_sample_grid.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/world_sample_grid.py"
