"""Rule neuron_ground_truth: concepts known for the target's neurons (table).

The world: fc units = class names, conv channels = the attribute value they detect
(AUROC).  Real classifiers: the output layer's units = their classes' synonyms (from
``target.class_names`` or the weights' categories); other layers have none.
"""

from pathlib import Path

import pandas as pd

from conceptlens.activation_files import load_activations, load_target_summary
from conceptlens.ground_truth import (
    COLUMNS,
    neuron_ground_truth,
    read_class_synonyms,
    synonym_ground_truth,
)
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    attributes = pd.read_parquet(Path(snakemake.input.split) / "attributes.parquet")  # noqa: F821
    acts = {layer: load_activations(path)[0]
            for layer, path in zip(p.layers, snakemake.input.activations)}  # noqa: F821
    # the target's class names and classifier layer, as its activations job found them
    summary = load_target_summary(snakemake.input.target)  # noqa: F821
    classes, output = summary["classes"], summary["output_layer"]
    if p.target["source"] == "world":
        table = neuron_ground_truth(acts, attributes, classes, p.auroc_threshold)
    else:
        if snakemake.input.class_names:  # noqa: F821
            synonyms = read_class_synonyms(snakemake.input.class_names[0])  # noqa: F821
        else:
            synonyms = [[c] for c in classes] if classes else []
        if not synonyms or output is None or output not in acts:
            table = pd.DataFrame(columns=COLUMNS)
            log.warning("no ground truth: %s", "the target has no class names (set "
                        "target.class_names)" if not synonyms else
                        "the target has no linear classifier layer" if output is None else
                        f"{output} is not described")
        else:
            labels = attributes["label"].to_numpy() if "label" in attributes.columns else None
            table = synonym_ground_truth(output, synonyms, acts[output], labels)
    for layer, group in table.groupby("layer"):
        log.info("%s: %d neurons with ground truth (%s)", layer, len(group),
                 group["attribute"].value_counts().to_dict())
    table.to_parquet(snakemake.output.parquet, index=False)  # noqa: F821
    table.to_csv(snakemake.output.csv, index=False)  # noqa: F821
