# Input functions, outputs and plans of the descriptions (rules/describe.smk).
from conceptlens.config import target_layers


def method_inputs(method, concepts, layer):
    """Input files of one method on one layer and concept set."""
    m = METHODS[method]
    clip = f"clip/{m['clip_model']}"
    inputs = {
        "text": results(f"{clip}/text/{concepts}.npz"),
        "concepts": results(f"concepts/{concepts}.txt"),
    }
    inputs["images"] = results(f"{clip}/images.npz")
    # the per-layer file of the target's pass the method's family scores
    reads = method_families.reads(m)
    inputs[reads] = results(f"{reads}/{m['view']}/{layer}.npz")
    # kappa: tuned is chosen on the tuning split (rules/tuning.smk)
    if method_families.is_tuned(m):
        inputs["tuning"] = results("tuning/kappa.json")
    return inputs


def description_outputs(suffix):
    """One describe job's files of a kind (parquet, csv, scores.npy): every method on every
    layer, in the order of describe_plan."""
    return [
        results(f"descriptions/{{concepts}}/{method}/{layer}.{suffix}")
        for method in METHODS
        for layer in LAYERS
    ]


def describe_plan(wildcards):
    """What the describe job of a concept set computes: for each method and layer, its
    settings and input files (outputs follow description_outputs' order)."""
    return [
        {
            "method": method,
            "layer": layer,
            "settings": METHODS[method],
            "image_set": image_set_of(method),
            "template": METHODS[method]["template"],
            "inputs": method_inputs(method, wildcards.concepts, layer),
        }
        for method in METHODS
        for layer in LAYERS
    ]


def describe_inputs(wildcards):
    """Every file of a concept set's describe job, each named once, by kind."""
    kinds = {}
    for step in describe_plan(wildcards):
        for kind, path in step["inputs"].items():
            kinds.setdefault(kind, [])
            if path not in kinds[kind]:
                kinds[kind].append(path)
    return kinds


def imported_source(wildcards):
    return config["imported"][wildcards.imported]["path"]


def imported_settings(wildcards):
    return config["imported"][wildcards.imported]


def imported_target_layers(wildcards):
    """The target's module names, which the import's layer column must name (built at
    parse time, as the config check does, so that the import job needs no torch)."""
    return target_layers(TARGET)
