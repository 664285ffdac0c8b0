"""Which neurons the report shows in its qualitative grids (``report/neurons.json``).

Per layer, the ranking method's neurons with ground truth are ordered by F1 (then CLIP
cosine, then unit, so the order is total); a layer without ground truth (a real target's
conv layers) is ordered by the evidence instead: the contrast AUC (on the world's layer4
the evidence score that best tells hits from misses, README), then the simulation
(Pearson), then unit.  ``best`` takes the head, ``worst`` the tail (worst first),
``random`` a seeded sample of the rest. The seed of a layer's sample is
``(seed, crc32(layer))``, so it does not depend on the other layers.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

REASONS = ("best", "worst", "random")
RANK_COLUMNS = ("f1", "clip_cos")
EVIDENCE_RANK_COLUMNS = ("contrast_auc", "simulation_pearson")


def _ordered(rows: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``rows`` by ``columns`` descending (NaN last), then unit ascending."""
    keys = [rows["unit"].to_numpy()] + [-rows[c].astype(float).fillna(-np.inf).to_numpy()
                                        for c in reversed(columns)]
    return rows.iloc[np.lexsort(keys)].reset_index(drop=True)


def rank_neurons(per_neuron: pd.DataFrame, method: str, layer: str,
                 evidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows for one method and layer, best first, with a ``ranked_by`` column: those of
    ``per_neuron`` (metrics/<concepts>/per_neuron.parquet) by F1 descending, then CLIP
    cosine, then unit; where the layer has no ground truth, those of ``evidence``
    (evidence/<concepts>/table.parquet) by contrast AUC, then simulation."""
    rows = per_neuron[(per_neuron["method"] == method)
                      & (per_neuron["layer"].astype(str) == layer)].drop_duplicates("unit")
    if len(rows) or evidence is None:
        return _ordered(rows, RANK_COLUMNS).assign(ranked_by="ground truth")
    rows = evidence[(evidence["method"] == method)
                    & (evidence["layer"].astype(str) == layer)].drop_duplicates("unit")
    return _ordered(rows, EVIDENCE_RANK_COLUMNS).assign(ranked_by="evidence")


def select_neurons(per_neuron: pd.DataFrame, method: str, layers: Sequence[str],
                   choose: Mapping[str, int], seed: int = 0,
                   evidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """The neurons of each layer chosen as ``best``, ``worst`` and ``random``.

    choose: counts per layer, e.g. {"best": 2, "worst": 2, "random": 2} (missing = 0).
    Returns columns layer, unit, reason, ranked_by (``ground truth`` or ``evidence``, see
    :func:`rank_neurons`), f1, clip_cos, contrast_auc, simulation_pearson (NaN where not
    ranked by them) in layer order, then best (best first), worst (worst first), random
    (ascending unit). A layer with fewer neurons gives what it has; no neuron appears
    twice.
    """
    unknown = set(choose) - set(REASONS)
    if unknown:
        raise ValueError(f"report neuron choice: unknown reason(s) {sorted(unknown)} "
                         f"(known: {', '.join(REASONS)})")
    if (per_neuron["method"] == method).sum() == 0 and len(per_neuron):
        raise ValueError(f"per-neuron metrics have no rows for method {method!r} (methods: "
                         f"{', '.join(sorted(map(str, per_neuron['method'].unique())))})")
    counts = {r: max(0, int(choose.get(r, 0))) for r in REASONS}
    chosen = []
    for layer in layers:
        ranked = rank_neurons(per_neuron, method, layer, evidence)
        n = len(ranked)
        n_best = min(counts["best"], n)
        n_worst = min(counts["worst"], n - n_best)
        best = ranked.iloc[:n_best].assign(reason="best")
        worst = ranked.iloc[n - n_worst:].iloc[::-1].assign(reason="worst")
        rest = ranked.iloc[n_best:n - n_worst]
        rng = np.random.default_rng([int(seed), zlib.crc32(str(layer).encode())])
        n_random = min(counts["random"], len(rest))
        pick = np.sort(rng.choice(len(rest), size=n_random, replace=False))
        random = rest.iloc[pick].sort_values("unit").assign(reason="random")
        chosen.extend(part for part in (best, worst, random) if len(part))
    columns = ["layer", "unit", "reason", "ranked_by", *RANK_COLUMNS, *EVIDENCE_RANK_COLUMNS]
    if not chosen:
        return pd.DataFrame(columns=columns)
    out = pd.concat(chosen, ignore_index=True).reindex(columns=columns)
    return out.assign(layer=out["layer"].astype(str), unit=out["unit"].astype(int))


def neuron_records(selected: pd.DataFrame, top_concepts: Mapping[tuple[str, int], str],
                   top_images: Mapping[str, np.ndarray], n_images: int) -> list[dict]:
    """neurons.json entries: layer, unit, reason, the method's top concept and the first
    ``n_images`` of the neuron's top images (``top_images[layer]`` is (n_neurons, k))."""
    records = []
    ranked_by = (selected["ranked_by"] if "ranked_by" in selected
                 else pd.Series("ground truth", index=selected.index))
    for layer, unit, reason, basis in zip(selected["layer"], selected["unit"],
                                          selected["reason"], ranked_by):
        key = (str(layer), int(unit))
        if key not in top_concepts:
            raise ValueError(f"no description of {layer} unit {unit} for the report neurons")
        if str(layer) not in top_images:
            raise ValueError(f"no top-k images of layer {layer} for the report neurons")
        indices = top_images[str(layer)]
        if int(unit) >= len(indices):
            raise ValueError(f"top-k file of layer {layer} has {len(indices)} neurons, "
                             f"unit {unit} asked for")
        records.append({"layer": str(layer), "unit": int(unit), "reason": str(reason),
                        "ranked_by": str(basis),
                        "concept": str(top_concepts[key]),
                        "image_ids": [int(i) for i in indices[int(unit), :n_images]]})
    return records


def neurons_document(concept_set: str, method: str, view: str, records: list[dict]) -> dict:
    """The neurons.json document (the ConVis maps rule reads this format; written by
    :func:`conceptlens.io.neurons.save_neurons`)."""
    return {"concept_set": concept_set, "method": method, "view": view, "neurons": records}

