"""Reading the tables of the formats: Parquet or CSV, with the columns a format needs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from conceptlens.io.atomic import PathLike

if TYPE_CHECKING:
    import pandas as pd


def read_table(path: PathLike, columns: Iterable[str], what: str) -> pd.DataFrame:
    """The table at ``path`` (Parquet by its suffix, else CSV); a missing file or column is
    an error naming the file, ``what`` it should be and the columns it has."""
    import pandas as pd

    if not Path(path).exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    frame = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(has {', '.join(map(str, frame.columns))})")
    return frame
