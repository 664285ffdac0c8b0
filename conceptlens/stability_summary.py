"""Summaries of the stability analysis: pooled numbers per summary, the table of all
summaries and its bar chart (numpy, pandas, matplotlib; no torch).

The label comparisons themselves are :mod:`conceptlens.stability` (torch); the files are
:mod:`conceptlens.io.stability`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: row of the table holding the numbers pooled over all layers
ALL_LAYERS = "all"
SUBSAMPLE_MEAN = "subsample top-1 mean"
SUBSAMPLE_STD = "subsample top-1 std"
NEURONS = "neurons"

_SAME = re.compile(r"^same_(\d+)_(\d+)$")
_SEED = re.compile(r"^subsample_top1_seed(\d+)$")
_PAIR_COLUMN = re.compile(r"^(k=|jaccard |top-1 )\d+->\d+$")
_SAME_COLUMN = re.compile(r"^k=\d+->\d+$")


# --------------------------------------------------------------------------- summaries


def _numbers(frame: pd.DataFrame) -> dict[str, float]:
    """Pooled numbers of per-neuron rows (percentages 0-100; Jaccard index 0-1)."""
    pairs = [(m.group(1), m.group(2)) for c in frame.columns if (m := _SAME.match(c))]
    out: dict[str, float] = {}
    for r, k in pairs:
        out[f"k={r}->{k}"] = 100 * float(frame[f"same_{r}_{k}"].mean())
    for r, k in pairs:
        out[f"jaccard {r}->{k}"] = float(frame[f"jaccard_{r}_{k}"].mean())
    for r, k in pairs:
        out[f"top-1 {r}->{k}"] = 100 * float(frame[f"top1_{r}_{k}"].mean())
    seeds = [c for c in frame.columns if _SEED.match(c)]
    per_seed = np.array([100 * float(frame[c].mean()) for c in seeds])
    out[SUBSAMPLE_MEAN] = float(per_seed.mean()) if len(seeds) else math.nan
    out[SUBSAMPLE_STD] = float(per_seed.std()) if len(seeds) else math.nan  # ddof = 0
    out[NEURONS] = len(frame)
    return out


def summarise(per_neuron: pd.DataFrame, name: str) -> dict[str, Any]:
    """Pooled stability numbers of per-neuron rows (``layer_stability`` columns).

    Returns {"name", the pooled numbers (``k=5->10``, ..., ``subsample top-1 mean``,
    ``subsample top-1 std`` (population std over seeds), ``neurons``), "subsample top-1 per
    seed": {seed: %}, "layers": {layer: the same numbers for that layer's neurons}}.
    Percentages are 0-100 over all neurons of all layers; Jaccard indices are 0-1.
    """
    if per_neuron.empty:
        raise ValueError(f"{name}: no neurons to summarise")
    if "layer" not in per_neuron.columns:
        raise ValueError(f"{name}: per-neuron rows lack the column 'layer'")
    seeds = {m.group(1): 100 * float(per_neuron[c].mean())
             for c in per_neuron.columns if (m := _SEED.match(c))}
    layers = {str(layer): _numbers(per_neuron[per_neuron["layer"] == layer])
              for layer in pd.unique(per_neuron["layer"])}
    return {"name": name, **_numbers(per_neuron), "subsample top-1 per seed": seeds,
            "layers": layers}


def _table_columns(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    pairs = list(dict.fromkeys(k for s in summaries for k in s if _PAIR_COLUMN.match(k)))
    ordered = [c for prefix in ("k=", "jaccard ", "top-1 ") for c in pairs
               if c.startswith(prefix)]
    return ordered + [SUBSAMPLE_MEAN, SUBSAMPLE_STD, NEURONS]


def stability_table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One pooled row (``layer`` = "all") and one row per layer for each summary.

    Index ``name`` ({probe}_{concepts}_{function}); columns ``layer``, then ``k=5->10``,
    ``k=5->16``, ``jaccard 5->10``, ``jaccard 5->16``, ``top-1 5->10``, ``top-1 5->16``,
    ``subsample top-1 mean``, ``subsample top-1 std``, ``neurons`` (names follow the ks).
    """
    if not summaries:
        raise ValueError("no stability summaries to tabulate")
    names = [s.get("name") for s in summaries]
    for s in summaries:
        if not isinstance(s.get("name"), str):
            raise ValueError(f"stability summary without a name: keys {sorted(s)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate stability summary name(s): {dup}")
    columns = _table_columns(summaries)
    rows, index = [], []
    for s in summaries:
        for layer, numbers in [(ALL_LAYERS, s), *s.get("layers", {}).items()]:
            rows.append({"layer": layer, **{c: numbers.get(c, math.nan) for c in columns}})
            index.append(s["name"])
    table = pd.DataFrame(rows, index=pd.Index(index, name="name"),
                         columns=["layer", *columns])
    table[NEURONS] = table[NEURONS].astype("Int64")
    return table


def stability_chart(table: pd.DataFrame):
    """Grouped bars of the ``k=a->b`` columns (% of neurons, pooled rows): a matplotlib
    figure (close it after saving, e.g. with :func:`conceptlens.io.stability.save_chart`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[table["layer"] == ALL_LAYERS] if "layer" in table.columns else table
    columns = [c for c in table.columns if _SAME_COLUMN.match(str(c))]
    if rows.empty or not columns:
        raise ValueError("stability_chart needs pooled rows and at least one k=a->b column")
    names = [str(n) for n in rows.index]
    x = np.arange(len(names))
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    try:
        for i, col in enumerate(columns):
            values = rows[col].to_numpy(dtype=float)
            bars = ax.bar(x + (i - (len(columns) - 1) / 2) * width, values, width,
                          label=col.replace("=", " = ").replace("->", " \u2192 "))
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
        ax.set_xticks(x, names)
        if max(len(n) for n in names) * len(names) > 60:
            plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
        ax.set_ylim(0, 110)
        ax.set_ylabel("same label set (% of neurons)")
        ax.legend(fontsize=8, ncols=len(columns), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  frameon=False, title="same top labels when k changes", title_fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
    except Exception:
        plt.close(fig)
        raise
    return fig
