"""Evidence files of a concept set (``evidence/<concepts>/``, the paths are the rules'):
the per-neuron evidence table (Parquet, and a CSV copy), its summary per method and layer
(CSV and JSON) and the check of the evidence against ground truth (CSV and JSON).  The
JSON files are ``{**about, "columns": [...], "rows": [records]}`` with NaN as null.
Every write is atomic; nothing here imports torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from conceptlens.io.atomic import PathLike, atomic_to_csv, atomic_to_parquet, atomic_write_json
from conceptlens.io.frames import read_table

if TYPE_CHECKING:
    import pandas as pd

#: columns every evidence table has (its full set: conceptlens.evidence.EVIDENCE_COLUMNS)
EVIDENCE_KEYS = ("method", "layer", "unit", "concept", "heldout_concept", "flags")
#: columns every summary and check table has
GROUP_KEYS = ("method", "layer")


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.astype(object).to_dict(orient="records")


def _save_with_json(table: pd.DataFrame, csv: PathLike, json_path: PathLike,
                    about: Mapping[str, Any] | None) -> None:
    atomic_to_csv(table, csv)
    atomic_write_json(json_path, {**(about or {}), "columns": [str(c) for c in table.columns],
                                  "rows": _records(table)})


def save_evidence(table: pd.DataFrame, parquet: PathLike, csv: PathLike) -> None:
    """The per-neuron evidence table as Parquet and as CSV (``flags`` comma-separated in
    one field; atomic, each)."""
    atomic_to_parquet(table, parquet)
    atomic_to_csv(table, csv)


def load_evidence(path: PathLike) -> pd.DataFrame:
    """An evidence table (Parquet or CSV), checked for its key columns; ``flags`` as str
    ("" when none) and ``layer`` as str."""
    frame = read_table(path, EVIDENCE_KEYS, "evidence table")
    return frame.assign(flags=frame["flags"].fillna("").astype(str),
                        layer=frame["layer"].astype(str))


def save_evidence_summary(summary: pd.DataFrame, csv: PathLike, json_path: PathLike,
                          about: Mapping[str, Any] | None = None) -> None:
    """The evidence summary (one row per method and layer) as CSV and JSON (atomic)."""
    _save_with_json(summary, csv, json_path, about)


def load_evidence_summary(path: PathLike) -> pd.DataFrame:
    """An evidence summary CSV, checked for its key columns."""
    return read_table(path, (*GROUP_KEYS, "neurons"), "evidence summary")


def save_evidence_check(check: pd.DataFrame, csv: PathLike, json_path: PathLike,
                        about: Mapping[str, Any] | None = None) -> None:
    """The check of the evidence against ground truth (one row per method and layer) as
    CSV and JSON (atomic)."""
    _save_with_json(check, csv, json_path, about)


def load_evidence_check(path: PathLike) -> pd.DataFrame:
    """An evidence check CSV, checked for its key columns."""
    return read_table(path, (*GROUP_KEYS, "n_hits", "n_misses"), "evidence check")


def read_evidence_files(paths, loader) -> pd.DataFrame:
    """Files of several concept sets (``evidence/<concepts>/<name>``) read by ``loader``
    (one of the loaders above) and concatenated with a ``concept_set`` column from each
    path; no paths -> an empty frame."""
    from pathlib import Path

    import pandas as pd

    frames = [loader(path).assign(concept_set=Path(path).parent.name) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
