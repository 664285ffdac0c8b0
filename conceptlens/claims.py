"""The seeds' claims as paired differences over neurons, with bootstrap confidence intervals.

A claim compares two methods of the Grad-CAM x t-vMF ablation on the same neurons (those
with ground truth), e.g. "the Grad-CAM crop beats the centre crop": the per-neuron
difference of a metric (hit, F1) between the method with the component and the one
without it.  Its 95% interval is a paired percentile bootstrap over neurons (the neurons
resampled with replacement, the same draw for both methods).  The growth of a gain with
the concept set's size compares the gain on the largest set with that on the smallest,
again paired over the neurons both sets evaluate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: (claim, role with the component, role without it, what the component is)
COMPONENT_CLAIMS = (
    ("gradcam_crop", "both", "tvmf", "Grad-CAM crop vs centre crop (with t-vMF)"),
    ("gradcam_crop", "gradcam", "none", "Grad-CAM crop vs centre crop (with cosine)"),
    ("tvmf", "both", "gradcam", "t-vMF vs cosine (on Grad-CAM crops)"),
    ("tvmf", "tvmf", "none", "t-vMF vs cosine (on centre crops)"),
    ("combined", "both", "none", "Grad-CAM + t-vMF vs WWW"),
)
CLAIM_METRICS = ("hit", "f1")
CLAIM_COLUMNS = ["claim", "comparison", "concept_set", "layer", "metric", "method",
                 "baseline", "n_neurons", "difference", "ci_low", "ci_high", "verdict"]


def paired_bootstrap(differences: np.ndarray, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of per-neuron ``differences`` (n,): the mean and its percentile
    bootstrap interval at ``level`` (``n_boot`` resamples of the n neurons, one
    (n_boot, n) index draw).  NaN for no neurons."""
    values = np.asarray(differences, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_boot, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def verdict(low: float, high: float) -> str:
    """``holds`` when the interval lies above 0, ``reversed`` below, else ``unclear``."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no data"
    return "holds" if low > 0 else "reversed" if high < 0 else "unclear"


def _paired(per_neuron: pd.DataFrame, method: str, baseline: str, layer: str, metric: str
            ) -> np.ndarray:
    """Per-neuron ``metric`` of ``method`` minus ``baseline`` on ``layer``, over the
    neurons both evaluate (aligned by unit)."""
    table = per_neuron[per_neuron["layer"] == layer]
    wide = table.pivot_table(index="unit", columns="method", values=metric, aggfunc="first")
    if method not in wide or baseline not in wide:
        return np.zeros(0)
    pair = wide[[method, baseline]].dropna()
    return (pair[method] - pair[baseline]).to_numpy(dtype=np.float64)


def claims_table(per_neuron: Mapping[str, pd.DataFrame], concept_set_sizes: Mapping[str, int],
                 ablation: Mapping[str, str], n_boot: int = 2000, seed: int = 0
                 ) -> pd.DataFrame:
    """The claims (:data:`COMPONENT_CLAIMS`, and the growth of the combined gain with the
    concept set's size) for every concept set and layer with ground truth, one row per
    metric of :data:`CLAIM_METRICS`, columns :data:`CLAIM_COLUMNS`.  ``per_neuron``:
    concept set -> its ``metrics/<set>/per_neuron.parquet`` table; ``concept_set_sizes``:
    concept set -> number of concepts; ``ablation``: role -> method."""
    rows = []
    for concept_set, table in per_neuron.items():
        for layer in dict.fromkeys(table["layer"]):
            for claim, role, base_role, comparison in COMPONENT_CLAIMS:
                method, baseline = ablation.get(role), ablation.get(base_role)
                if method is None or baseline is None:
                    continue
                for metric in CLAIM_METRICS:
                    diff = _paired(table, method, baseline, layer, metric)
                    mean, low, high = paired_bootstrap(diff, n_boot, seed)
                    rows.append([claim, comparison, concept_set, layer, metric, method,
                                 baseline, diff.size, mean, low, high, verdict(low, high)])
    rows += _growth_rows(per_neuron, concept_set_sizes, ablation, n_boot, seed)
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _growth_rows(per_neuron: Mapping[str, pd.DataFrame], sizes: Mapping[str, int],
                 ablation: Mapping[str, str], n_boot: int, seed: int) -> list[list]:
    """The combined gain (both - none) on the largest concept set minus that on the
    smallest, paired over the (layer, unit) neurons both sets evaluate."""
    method, baseline = ablation.get("both"), ablation.get("none")
    sets = sorted((s for s in per_neuron if s in sizes), key=lambda s: sizes[s])
    if method is None or baseline is None or len(sets) < 2 or sizes[sets[0]] == sizes[sets[-1]]:
        return []
    small, large = sets[0], sets[-1]
    rows = []
    layers = dict.fromkeys(per_neuron[large]["layer"])
    for layer in layers:
        for metric in CLAIM_METRICS:
            gains = {}
            for concept_set in (small, large):
                table = per_neuron[concept_set]
                wide = table[table["layer"] == layer].pivot_table(
                    index="unit", columns="method", values=metric, aggfunc="first")
                if method in wide and baseline in wide:
                    gains[concept_set] = (wide[method] - wide[baseline]).dropna()
            if len(gains) < 2:
                continue
            both = pd.concat(gains, axis=1, join="inner")
            diff = (both[large] - both[small]).to_numpy(dtype=np.float64)
            mean, low, high = paired_bootstrap(diff, n_boot, seed)
            rows.append(["gain_grows_with_concepts",
                         f"gain of {method} over {baseline}: {large} ({sizes[large]} concepts) "
                         f"minus {small} ({sizes[small]})", f"{large} - {small}", layer,
                         metric, method, baseline, diff.size, mean, low, high,
                         verdict(low, high)])
    return rows


def claims_summary(table: pd.DataFrame, claims: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per claim and metric: how many of its (concept set, layer, comparison)
    rows hold, are unclear or reversed."""
    if not len(table):
        return pd.DataFrame(columns=["claim", "metric", "holds", "unclear", "reversed"])
    chosen = table if claims is None else table[table["claim"].isin(claims)]
    counts = chosen.groupby(["claim", "metric"])["verdict"].value_counts().unstack(fill_value=0)
    for name in ("holds", "unclear", "reversed"):
        if name not in counts:
            counts[name] = 0
    return counts[["holds", "unclear", "reversed"]].reset_index()
