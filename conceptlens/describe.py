"""Neuron descriptions: from a score matrix and a selection to a table.

One row per neuron: ``layer, unit, concept`` (the best), ``concepts`` and ``scores`` (all
selected concepts, best first), ``top5`` and ``top5_scores``, and ``weak`` (no concept
scored above zero, so only the best one is kept).  The files: :mod:`conceptlens.io.descriptions`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def descriptions_table(layer: str, scores: torch.Tensor, concepts: list[str],
                       selected: torch.Tensor, weak: torch.Tensor | None = None,
                       top: int = 5) -> pd.DataFrame:
    """Descriptions of every neuron of ``layer``.

    scores: (n_neurons, n_concepts); selected: bool (n_neurons, n_concepts);
    weak: bool (n_neurons,) or None.
    """
    n_neurons, n_concepts = scores.shape
    k = min(top, n_concepts)
    top_scores, top_idx = torch.topk(scores, k, dim=1)
    # Selected concepts ranked by score: order every row by score, keep the selected ones.
    masked = torch.where(selected, scores, torch.full_like(scores, float("-inf")))
    n_sel = selected.sum(dim=1)
    max_sel = int(n_sel.max()) if n_neurons else 0
    sel_scores, sel_idx = torch.topk(masked, max(max_sel, 1), dim=1)
    names = np.asarray(concepts, dtype=object)
    sel_idx_np, sel_scores_np = sel_idx.cpu().numpy(), sel_scores.cpu().numpy()
    n_sel_np = n_sel.cpu().numpy()
    rows_concepts = [list(names[sel_idx_np[i, :n_sel_np[i]]]) for i in range(n_neurons)]
    rows_scores = [sel_scores_np[i, :n_sel_np[i]].astype(float).tolist() for i in range(n_neurons)]
    top_names = names[top_idx.cpu().numpy()]
    return pd.DataFrame({
        "layer": layer,
        "unit": np.arange(n_neurons),
        "concept": [c[0] if c else None for c in rows_concepts],
        "concepts": rows_concepts,
        "scores": rows_scores,
        "top5": [list(r) for r in top_names],
        "top5_scores": top_scores.cpu().numpy().astype(float).tolist(),
        "weak": (weak.cpu().numpy() if weak is not None else np.zeros(n_neurons, bool)),
    })
