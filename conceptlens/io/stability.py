"""Stability analysis files: ``stability/<concepts>/<function>.parquet`` (per neuron),
``stability/<concepts>/<function>.json`` (the pooled summary, with ``name``) and
``stability/table.csv`` / ``table.json`` (one row per summary and layer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conceptlens.io.atomic import PathLike, atomic_to_csv, atomic_to_parquet, atomic_write_json
from conceptlens.io.frames import read_table

if TYPE_CHECKING:
    import pandas as pd


def save_stability_per_neuron(per_neuron: pd.DataFrame, path: PathLike) -> None:
    atomic_to_parquet(per_neuron, path)


def save_summary(path: PathLike, summary: dict[str, Any]) -> None:
    """A summary as JSON (NaN as null; atomic)."""
    atomic_write_json(path, summary)


def read_summary(path: PathLike) -> dict[str, Any]:
    """A summary JSON written by the stability rule (clear error when it is not one)."""
    try:
        summary = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err})") from err
    if not isinstance(summary, dict) or not isinstance(summary.get("name"), str):
        raise ValueError(f"{path}: not a stability summary (no 'name')")
    return summary


def save_stability_table(table: pd.DataFrame, csv: PathLike, json_path: PathLike) -> None:
    """CSV (the index, ``name``, as the first column) and JSON ``{"columns": [...],
    "rows": [records]}`` (atomic)."""
    flat = table.reset_index()
    atomic_to_csv(flat, csv)
    atomic_write_json(json_path, {"columns": list(flat.columns),
                                  "rows": flat.astype(object).to_dict(orient="records")})


def read_stability_table(path: PathLike) -> pd.DataFrame:
    """``stability/table.csv``: ``name``, percentages 0-100 and ``neurons``."""
    frame = read_table(path, ("name", "neurons"), "stability table")
    return frame


def save_chart(figure, png: PathLike, svg: PathLike) -> None:
    """A matplotlib figure as PNG (150 dpi) and SVG (atomic, each); the figure is closed."""
    import matplotlib.pyplot as plt

    from conceptlens.io.atomic import atomic_path

    try:
        with atomic_path(png) as tmp:
            figure.savefig(tmp, dpi=150, format="png")
        with atomic_path(svg) as tmp:
            figure.savefig(tmp, format="svg")
    finally:
        plt.close(figure)
