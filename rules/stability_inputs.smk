# Input functions of the stability analysis (rules/stability.smk).


def stability_text_embeddings(wildcards):
    clip = STABILITY["clip_model"]
    return results(f"clip/{clip}/text/{wildcards.concepts}.npz")


def stability_activation_files(wildcards):
    return [results(f"activations/full/{layer}.npz") for layer in STABILITY_LAYERS]
