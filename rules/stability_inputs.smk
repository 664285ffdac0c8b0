# Input functions of the stability analysis (rules/stability.smk).


def stability_text_embeddings(wildcards):
    clip = STABILITY["clip_model"]
    return results(f"clip/{clip}/text/{wildcards.concepts}.npz")


def stability_activation_files(wildcards):
    return [results(f"activations/full/{layer}.npz") for layer in STABILITY_LAYERS]


def stability_summary_files():
    """One summary per (concept set, similarity function) of the stability analysis."""
    return [
        results(f"stability/{concepts}/{function}.json")
        for concepts in STABILITY_CONCEPT_SETS
        for function in STABILITY["functions"]
    ]


def stability_outputs():
    if not stability_summary_files():
        return []
    return [results(f"stability/{name}") for name in STABILITY_TABLE_FILES]


STABILITY_TABLE_FILES = ("table.csv", "table.json", "chart.png", "chart.svg")
