# Input functions and params of the evidence stage (rules/evidence.smk).


def evidence_plan(wildcards):
    """What the evidence job of a concept set computes: the describe plan's steps, each
    also with the full view's activations of its layer (the evaluation half is scored on
    them) and the descriptions it gives evidence for."""
    plan = describe_plan(wildcards)
    for step in plan:
        step["inputs"] = {
            **step["inputs"],
            "full_activations": results(f"activations/full/{step['layer']}.npz"),
            "descriptions": results(
                f"descriptions/{wildcards.concepts}/{step['method']}/{step['layer']}.parquet"
            ),
        }
    return plan


def evidence_inputs(wildcards):
    """Every file of a concept set's evidence job, each named once, by kind."""
    kinds = {}
    for step in evidence_plan(wildcards):
        for kind, path in step["inputs"].items():
            kinds.setdefault(kind, [])
            if path not in kinds[kind]:
                kinds[kind].append(path)
    return kinds


def evidence_stability_files(wildcards):
    """The per-neuron stability tables of the concept set (CLIP-Dissect functions)."""
    if not STABILITY_LAYERS or wildcards.concepts not in STABILITY_CONCEPT_SETS:
        return []
    return [
        results(f"stability/{wildcards.concepts}/{function}.parquet")
        for function in STABILITY["functions"]
    ]


def evidence_files(name):
    """One file of every concept set's evidence (table.parquet, summary.csv, check.csv)."""
    return [
        results(f"evidence/{concepts}/{name}") for concepts in config["concept_sets"]
    ]
