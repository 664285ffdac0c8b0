# Concept sets and concept hierarchies: configured files, sha256-checked downloads, the
# WordNet nouns, the world's vocabulary and hierarchy, the WordNet hierarchy, and the
# class names of a real target (target.class_names: wnids).


rule concept_set:
    input:
        concept_set_source,
    output:
        results("concepts/{concepts}.txt"),
    log:
        results("logs/concept_set/{concepts}.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/concept_set.py"


# Downloads run on the submitting host (compute nodes of a cluster often have no internet).
rule download_concept_set:
    output:
        f"{DOWNLOADS}/concept_sets/{{download}}.txt",
    log:
        f"{DOWNLOADS}/logs/{{download}}.log",
    retries: 2
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    params:
        url=concept_download_url,
    script:
        "../scripts/download_concept_set.py"


rule wordnet_concepts:
    output:
        results("derived/wordnet_nouns.txt"),
    log:
        results("logs/wordnet_concepts.log"),
    benchmark:
        results("benchmarks/wordnet_concepts.tsv")
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/wordnet_concepts.py"


# The world's medium and large sets: its vocabulary with 1,000 or all WordNet nouns.
rule world_plus_concepts:
    input:
        world=results("concepts/world.txt"),
        nouns=results("derived/wordnet_nouns.txt"),
    output:
        results("derived/{plus}.txt"),
    log:
        results("logs/world_plus_concepts/{plus}.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/world_plus_concepts.py"


rule world_concepts:
    output:
        concepts=results("concepts/world.txt"),
        hierarchy=results("concepts/world_hierarchy.tsv"),
    log:
        results("logs/world_concepts.log"),
    priority: CRITICAL_PATH
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/world_concepts.py"


# target.class_names: wnids = class i named by the WordNet lemmas of the probe's i-th wnid.
rule wnid_class_names:
    input:
        split=probe_dir(),
    output:
        results("derived/class_synonyms.txt"),
    log:
        results("logs/wnid_class_names.log"),
    localrule: True
    conda:
        "../envs/conceptlens.yaml"
    script:
        "../scripts/wnid_class_names.py"


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


ruleorder: world_concepts > concept_set
