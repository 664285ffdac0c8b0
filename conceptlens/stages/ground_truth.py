"""Stage of rule ``neuron_ground_truth``: the concepts known for the target's neurons.

The world target on the world probe set: fc units = class names, conv channels = the
attribute value they detect (AUROC).  Real classifiers, and the world target on a folder of
images: the output layer's units = their classes' synonyms (from ``target.class_names`` or
the weights' categories); other layers have none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

_LOG = logging.getLogger(__name__)


def ground_truth_table(split: str, target_summary: str, activations: Sequence[str],
                       layers: Sequence[str], planted: bool, class_names: Sequence[str],
                       auroc_threshold: float, log: logging.Logger = _LOG) -> pd.DataFrame:
    """The ground-truth table (:mod:`conceptlens.io.ground_truth`) from the probe split,
    the target summary of its pass, the full view's activations of ``layers`` (files in
    that order) and, for a real target, its class-names file (``class_names``: [] or
    [path]).  ``planted``: the world target on the world probe set, whose images'
    attributes give every layer's ground truth; otherwise only a classifier's output
    units have one (their classes)."""
    from conceptlens.ground_truth import neuron_ground_truth, synonym_ground_truth
    from conceptlens.io.activations import load_activations, load_target_summary
    from conceptlens.io.concepts import read_class_synonyms
    from conceptlens.io.ground_truth import COLUMNS
    from conceptlens.io.probe import read_attributes

    if len(layers) != len(activations):
        raise ValueError(f"layers {list(layers)} and activation files {list(activations)} "
                         "differ in length")
    attributes = read_attributes(split)
    acts = {layer: load_activations(path)[0] for layer, path in zip(layers, activations)}
    # the target's class names and classifier layer, as its pass found them
    summary = load_target_summary(target_summary)
    classes, output = summary["classes"], summary["output_layer"]
    if planted:
        table = neuron_ground_truth(acts, attributes, classes, auroc_threshold)
    else:
        if class_names:
            synonyms = read_class_synonyms(class_names[0])
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
    return table
