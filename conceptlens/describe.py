"""Neuron descriptions: from a score matrix and a selection to a table.

One row per neuron: ``layer, unit, concept`` (the best), ``concepts`` and ``scores`` (all
selected concepts, best first), ``top5`` and ``top5_scores``, and ``weak`` (no concept
scored above zero, so only the best one is kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

LIST_SEPARATOR = "|"


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


def top1_selection(scores: torch.Tensor) -> torch.Tensor:
    """Bool (n_neurons, n_concepts) selecting each neuron's best concept only."""
    selected = torch.zeros_like(scores, dtype=torch.bool)
    selected[torch.arange(len(scores)), scores.argmax(dim=1)] = True
    return selected


def to_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The table with list columns joined by ``|`` (scores to 4 decimals) for CSV."""
    out = table.copy()
    for col in ("concepts", "top5"):
        out[col] = out[col].map(LIST_SEPARATOR.join)
    for col in ("scores", "top5_scores"):
        out[col] = out[col].map(lambda xs: LIST_SEPARATOR.join(f"{x:.4f}" for x in xs))
    return out


@dataclass
class MethodScores:
    """One method's scores on one layer: (n_neurons, n_concepts) ``scores`` (NaN -> -inf),
    bool ``selected`` of the same shape, bool (n_neurons,) ``weak`` (WWW family; None for
    CLIP-Dissect) and ``n_nan``, how many scores were NaN."""

    scores: torch.Tensor
    selected: torch.Tensor
    weak: torch.Tensor | None
    n_nan: int = 0


def method_scores(method: Mapping, image_ids: np.ndarray, image_emb: torch.Tensor,
                  text_emb: torch.Tensor, template_emb: torch.Tensor,
                  topk: np.ndarray | None = None, activations: np.ndarray | None = None
                  ) -> MethodScores:
    """Scores and selection of a method (``conceptlens.config.method_settings`` entry).

    image_emb: (len(image_ids), d) CLIP embeddings of the images ``image_ids``; text_emb
    (n_concepts, d); template_emb (d,).  WWW family: ``topk`` (n_neurons, k) image ids of
    each neuron's top-k images.  CLIP-Dissect: ``activations`` (n_images, n_neurons) of
    every probe image, with ``image_ids`` = 0..n_images-1.
    """
    from conceptlens.embeddings import rows_of
    from conceptlens.scoring import CLIP_DISSECT_FUNCTIONS, select_concepts, www_scores
    from conceptlens.stability import canonical_order

    if method["family"] == "www":
        rows = torch.from_numpy(rows_of(image_ids, topk))
        scores = www_scores(image_emb, rows, text_emb, template_emb,
                            similarity=method["similarity"], kappa=method.get("kappa", 0.0))
        selected, weak = select_concepts(scores, method["alpha"])
        return MethodScores(scores, selected, weak)
    if not np.array_equal(image_ids, np.arange(len(activations))):
        raise ValueError("CLIP-Dissect needs the embedding of every probe image")
    clip_feats = image_emb @ text_emb.T
    target_feats = torch.from_numpy(activations)
    # Tied activations (ReLU zeros, float16) would make top-k sets depend on the probe
    # order; scoring the images in an order fixed by their content makes them not.
    order = canonical_order(clip_feats, target_feats)
    kwargs = {"top_k": method["top_k"]} if "top_k" in method else {}
    scores = CLIP_DISSECT_FUNCTIONS[method["function"]](clip_feats[order], target_feats[order],
                                                        **kwargs)
    n_nan = int(torch.isnan(scores).sum())
    # NaN: e.g. rank_reorder on negative CLIP similarities, as in the reference code
    scores = torch.nan_to_num(scores, nan=float("-inf")) if n_nan else scores
    return MethodScores(scores, top1_selection(scores), None, n_nan)
