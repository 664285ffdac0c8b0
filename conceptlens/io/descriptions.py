"""Neuron descriptions: ``descriptions/<concepts>/<method>/<layer>.parquet`` (a CSV copy
and the ``.scores.npy`` matrix beside it), and imported descriptions
(``imported/<name>.parquet``) in the same table format.

One row per neuron: ``layer, unit, concept`` (the best), ``concepts`` and ``scores`` (all
selected concepts, best first), ``top5`` and ``top5_scores``, and ``weak`` (no concept
scored above zero, so only the best one is kept).  Imported tables have ``layer, unit,
concept, concepts`` only.  The scores file is (n_neurons, n_concepts) float16, unit order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_path, atomic_save_npy, atomic_to_parquet
from conceptlens.io.frames import read_table

if TYPE_CHECKING:
    import pandas as pd

LIST_SEPARATOR = "|"
COLUMNS = ("layer", "unit", "concept", "concepts")
SCORES_SUFFIX = ".scores.npy"


def to_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The table with list columns joined by ``|`` (scores to 4 decimals) for CSV."""
    out = table.copy()
    for col in ("concepts", "top5", "top_images"):
        if col in out:
            out[col] = out[col].map(LIST_SEPARATOR.join)
    for col in ("scores", "top5_scores"):
        if col in out:
            out[col] = out[col].map(lambda xs: LIST_SEPARATOR.join(f"{x:.4f}" for x in xs))
    return out


#: the formats of :func:`save_description_table`, by suffix
TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".parquet")


def save_description_table(table: pd.DataFrame, path: PathLike) -> None:
    """A descriptions table in the format of the suffix of ``path`` (atomic):
    ``.parquet`` as it is; ``.csv`` and ``.tsv`` with list columns joined
    (:func:`to_csv_frame`); ``.json`` as a list of records, lists as arrays.  Any other
    suffix is a :class:`ValueError` naming the known ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{str(path)!r}: unknown table format {suffix or '(no suffix)'!r} "
                         f"(known: {', '.join(TABLE_SUFFIXES)})")
    if suffix == ".parquet":
        atomic_to_parquet(table, path)
        return
    with atomic_path(path) as tmp:
        if suffix == ".json":
            table.to_json(tmp, orient="records", indent=1)
        else:
            to_csv_frame(table).to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")


def save_descriptions(table: pd.DataFrame, parquet: PathLike, csv: PathLike,
                      scores_path: PathLike, scores: np.ndarray) -> None:
    """Write one method's descriptions of one layer: the table (Parquet and CSV) and its
    (n_neurons, n_concepts) scores as float16 (atomic, each)."""
    if len(scores) != len(table):
        raise ValueError(f"{len(scores)} score rows for {len(table)} described neurons")
    save_description_table(table, parquet)
    save_description_table(table, csv)
    atomic_save_npy(scores_path, np.asarray(scores).astype(np.float16))


def scores_path_of(parquet: PathLike) -> str:
    """The scores file beside a descriptions table."""
    return str(parquet).removesuffix(".parquet") + SCORES_SUFFIX


def load_scores(parquet: PathLike) -> np.ndarray:
    """The (n_neurons, n_concepts) float16 scores beside a descriptions table."""
    return np.load(scores_path_of(parquet))


def load_description_table(path: PathLike) -> pd.DataFrame:
    """One descriptions (or imported descriptions) table, checked for its columns."""
    return read_table(path, COLUMNS, "descriptions table")


def load_descriptions(paths: Iterable[PathLike]) -> pd.DataFrame:
    """All description tables with ``concept_set`` and ``method`` columns from their paths
    (:func:`conceptlens.io.paths.parse_result_path`); ``concepts`` as lists of str."""
    import pandas as pd

    from conceptlens.io.paths import parse_result_path

    frames = []
    for path in paths:
        where = parse_result_path(path)
        frame = load_description_table(path)
        frames.append(frame.assign(concept_set=where.concept_set, method=where.method,
                                   layer=frame["layer"].astype(str),
                                   concepts=[[str(c) for c in v] for v in frame["concepts"]]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[*COLUMNS, "concept_set", "method"])
