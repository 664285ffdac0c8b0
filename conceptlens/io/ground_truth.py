"""The neurons' ground truth: ``ground_truth/neurons.parquet`` (and a CSV copy), one row
per neuron with a known concept: ``layer, unit, concept, synonyms`` (``|``-separated),
``attribute``, ``auroc`` and ``source``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conceptlens.io.atomic import PathLike, atomic_to_csv, atomic_to_parquet

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["layer", "unit", "concept", "synonyms", "attribute", "auroc", "source"]
REQUIRED = ("layer", "unit", "concept", "synonyms")
SYNONYM_SEPARATOR = "|"


def save_ground_truth(table: pd.DataFrame, parquet: PathLike, csv: PathLike) -> None:
    """Write the ground-truth table as Parquet and CSV (atomic)."""
    atomic_to_parquet(table, parquet)
    atomic_to_csv(table, csv)


def load_ground_truth(path: PathLike | None, synonym_lists: bool = False) -> pd.DataFrame:
    """The ground-truth table (``layer`` as str); ``synonym_lists``: ``synonyms`` as lists
    of str.  None -> an empty table with the columns."""
    import pandas as pd

    if path is None:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_parquet(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a ground-truth table, missing {', '.join(missing)}")
    frame = frame.assign(layer=frame["layer"].astype(str))
    if synonym_lists:
        frame = frame.assign(synonyms=[str(s).split(SYNONYM_SEPARATOR)
                                       for s in frame["synonyms"]])
    return frame
