# Input functions and params of the concept sets (rules/concept_sets.smk).


def concept_set_source(wildcards):
    """The file a concept set is copied from: the configured path, the sha256-checked
    download, or the set derived from WordNet ([] for the world, built by world_concepts).
    """
    name = wildcards.concepts
    path = config["concept_sets"][name]
    if path is not None:
        return [path]
    if name in BUILTIN_DOWNLOADS:
        return [f"{DOWNLOADS}/concept_sets/{name}.txt"]
    if name == "wordnet":
        return [results("derived/wordnet_nouns.txt")]
    if name in WORLD_PLUS_SETS:
        return [results(f"derived/{name}.txt")]
    return []


def concept_download_url(wildcards):
    return download_url(wildcards.download, config["concept_downloads"]["mirror"])
