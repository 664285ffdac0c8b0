"""Metric tables: Table 1 (methods x metrics) and the Grad-CAM x t-vMF ablation."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from conceptlens.metrics import (
    concepts_by_neuron,
    evaluate_descriptions,
    ground_truth_ranks,
    neuron_scores,
    synonyms_by_neuron,
)

Embed = Callable[[list[str]], np.ndarray]
#: columns of the per-neuron scores (the table of a run without ground truth is empty)
PER_NEURON_COLUMNS = ["layer", "unit", "hit", "precision", "recall", "f1", "clip_cos",
                      "sentence_cos", "rank", "method"]
ABLATION_ROLES = {"none": (False, False), "tvmf": (False, True), "gradcam": (True, False),
                  "both": (True, True)}


def evaluate_method_layer(descriptions: pd.DataFrame, scores: np.ndarray | None,
                          concepts: list[str], ground_truth: pd.DataFrame,
                          embed_clip: Embed | None, embed_sentence: Embed | None
                          ) -> tuple[dict, pd.DataFrame]:
    """Summary metrics and per-neuron scores of one method's descriptions of one layer.

    descriptions: the describe rule's table; scores: (n_neurons, n_concepts) in unit order,
    or None (imported descriptions: no ranking, so no top-k or rank metrics).
    """
    layer = str(descriptions["layer"].iloc[0])
    gt = ground_truth[ground_truth["layer"] == layer]
    described = concepts_by_neuron(descriptions)
    truth = synonyms_by_neuron(gt)
    ranks = None
    if scores is not None:
        units = gt["unit"].to_numpy(dtype=int)
        units = units[units < len(scores)]
        synonym_lists = [truth[(layer, int(u))] for u in units]
        rank_values = ground_truth_ranks(scores[units].astype(np.float32), concepts, synonym_lists)
        ranks = {(layer, int(u)): float(r) for u, r in zip(units, rank_values)}
    summary = evaluate_descriptions(described, truth, embed_clip, embed_sentence, ranks=ranks)
    per = neuron_scores(described, truth, embed_clip, embed_sentence, ranks=ranks)
    per_neuron = pd.DataFrame({k: v for k, v in per.items() if k != "key"})
    per_neuron.insert(0, "unit", [k[1] for k in per["key"]])
    per_neuron.insert(0, "layer", layer)
    return summary, per_neuron


def table1(summaries: Mapping[tuple[str, str], dict]) -> pd.DataFrame:
    """Rows (method, layer), columns the metrics with their standard errors."""
    rows = [{"method": method, "layer": layer, **summary}
            for (method, layer), summary in summaries.items()]
    return pd.DataFrame(rows, columns=None if rows else ["method", "layer"])


def ablation_table(summaries: Mapping[tuple[str, str], dict], ablation: Mapping[str, str],
                   layers: list[str]) -> pd.DataFrame:
    """The Grad-CAM x t-vMF ablation: one row per (role, layer) with on/off columns."""
    rows = []
    for layer in layers:
        for role, (gradcam, tvmf) in ABLATION_ROLES.items():
            method = ablation.get(role)
            if method is None or (method, layer) not in summaries:
                continue
            rows.append({"gradcam": gradcam, "tvmf": tvmf, "method": method, "layer": layer,
                         **summaries[(method, layer)]})
    return pd.DataFrame(rows, columns=None if rows else ["gradcam", "tvmf", "method", "layer"])
