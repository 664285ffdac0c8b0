"""Metric tables of a concept set (``metrics/<concepts>/``): ``table1.csv`` / ``.json``
(rows method, layer; columns the metrics and their standard errors), ``ablation.csv`` /
``.json`` (the Grad-CAM x t-vMF rows) and ``per_neuron.parquet`` (one row per method,
layer and neuron with ground truth)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from conceptlens.io.atomic import PathLike, atomic_to_csv, atomic_to_parquet, atomic_write_json
from conceptlens.io.frames import read_table

if TYPE_CHECKING:
    import pandas as pd


def save_metric_table(table: pd.DataFrame, csv: PathLike, json_path: PathLike,
                      about: Mapping[str, Any]) -> None:
    """A metric table as CSV and as JSON ``{**about, "rows": [records]}`` (atomic)."""
    atomic_to_csv(table, csv)
    atomic_write_json(json_path, {**about, "rows": table.to_dict(orient="records")},
                      strict=False)


def save_per_neuron(table: pd.DataFrame, path: PathLike) -> None:
    atomic_to_parquet(table, path)


def load_per_neuron(path: PathLike) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path)


def read_metric_tables(paths: Iterable[PathLike], columns: Iterable[str] = ("method", "layer")
                       ) -> pd.DataFrame:
    """Concatenate ``table1.csv`` / ``ablation.csv`` / ``per_neuron.parquet`` files with a
    ``concept_set`` column from each path; a file without ``columns`` is an error naming
    it.  No paths -> an empty frame."""
    import pandas as pd

    from conceptlens.io.paths import parse_result_path

    frames = []
    for path in paths:
        frame = read_table(path, columns, "metric table")
        frames.append(frame.assign(concept_set=parse_result_path(path).concept_set))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_claims(path: PathLike) -> pd.DataFrame:
    """``metrics/claims.csv`` (conceptlens.claims.CLAIM_COLUMNS); a file without them is
    an error naming it."""
    import pandas as pd

    from conceptlens.claims import CLAIM_COLUMNS

    table = pd.read_csv(path)
    missing = [c for c in CLAIM_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a claims table, missing {', '.join(missing)}")
    return table
