"""Descriptions published by other tools (a CSV of layer, unit, description), read into
the descriptions-table format so the same metrics score them.

A CSV whose units are not whole numbers, that names a (layer, unit) twice, a layer the
target lacks or a unit past its layer's width raises :class:`ImportedError`: one line
naming the config key, the file and the offending rows or units."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from conceptlens.errors import InputError

#: rows or units an error lists before "... (N in all)"
SHOWN = 5


class ImportedError(InputError, ValueError):
    """An imported descriptions file is malformed or does not fit the target; the message
    names the config key, the file and the offending rows or units."""


def _where(path: Path, key: str | None) -> str:
    return f"config key {key}: {str(path)!r}" if key else repr(str(path))


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f", ... ({len(items)} in all)" if len(items) > SHOWN else "")


def read_imported(path: str | os.PathLike, layer: str | None = None, unit_column: str = "unit",
                  description_column: str = "description", unit_base: int = 0,
                  key: str | None = None) -> pd.DataFrame:
    """Read a CSV of neuron descriptions.

    ``layer``: a fixed layer name for files without a ``layer`` column (e.g. Network
    Dissection's fc file); ``unit_base``: 1 for files whose units count from 1; ``key``:
    the config key that names the file (``imported.<name>.path``), for messages.
    Returns the columns of a descriptions table (``layer, unit, concept, concepts``);
    the description text is the single concept.  Units that are not whole numbers, or
    a (layer, unit) named twice, raise :class:`ImportedError`.
    """
    path = Path(path)
    where = _where(path, key)
    if not path.is_file():
        raise FileNotFoundError(f"imported descriptions not found: {where}")
    table = pd.read_csv(path)
    needed = [unit_column, description_column] + ([] if layer else ["layer"])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ImportedError(f"{where}: missing column(s) {', '.join(missing)}; "
                            f"has {', '.join(table.columns)}")
    units = _integer_units(table[unit_column], where, unit_column) - unit_base
    descriptions = table[description_column].fillna("").astype(str).str.strip()
    out = pd.DataFrame({
        "layer": layer if layer else table["layer"].astype(str),
        "unit": units,
        "concept": descriptions,
        "concepts": [[d] if d else [] for d in descriptions],
    })
    negative = out.index[out["unit"] < 0]
    if len(negative):
        raise ImportedError(
            f"{where}: column {unit_column!r} has unit(s) below unit_base={unit_base} in "
            f"row(s) {_listed([str(i + 2) for i in negative])}; check unit_base (0: units "
            "numbered from 0, 1: from 1)")
    twice = out[out.duplicated(["layer", "unit"], keep="first")]
    if len(twice):
        named = [f"{row.layer} {row.unit + unit_base}" for row in twice.itertuples()]
        raise ImportedError(f"{where}: (layer, unit) named twice: {_listed(named)}; keep "
                            "one description per unit")
    return out


def _integer_units(column: pd.Series, where: str, name: str) -> pd.Series:
    """``column`` as int64, or :class:`ImportedError` naming the rows that are not whole
    numbers (CSV rows count the header as row 1)."""
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() | (numbers % 1 != 0)
    if bad.any():
        rows = [f"{i + 2} ({column[i]!r})" for i in column.index[bad]]
        raise ImportedError(f"{where}: column {name!r} holds non-integer unit(s) in row(s) "
                            f"{_listed(rows)}; give whole unit numbers (or set "
                            "unit_column to the column that holds them)")
    return numbers.astype("int64")


def check_imported_units(table: pd.DataFrame, widths: Mapping[str, int],
                         target_layers: Sequence[str], path: str | os.PathLike,
                         key: str | None = None, unit_base: int = 0) -> list[str]:
    """Check an imported table against the run's target: each layer must be one of the
    target's (``target_layers``), each unit of a recorded layer below its width
    (``widths``: ``activations/target.json``), and some row must fall on a recorded layer.

    Returns notes on rows of layers the run does not record (not scored); raises
    :class:`ImportedError` naming the file and the offending layers or units."""
    where = _where(Path(path), key)
    layers = list(dict.fromkeys(table["layer"]))
    unknown = [layer for layer in layers if layer not in widths and layer not in target_layers]
    if unknown:
        raise ImportedError(f"{where}: unknown layer(s) {_listed([repr(x) for x in unknown])}"
                            f" of the target (recorded: {', '.join(widths)}); fix the layer "
                            "column, or set imported's layer")
    for layer in (x for x in layers if x in widths):
        units = table.loc[table["layer"] == layer, "unit"]
        over = sorted({int(u) for u in units if u >= widths[layer]})
        if over:
            hint = (" (numbered from 1? set unit_base: 1)"
                    if unit_base == 0 and over == [widths[layer]] else "")
            raise ImportedError(
                f"{where}: unit(s) out of range for layer {layer} ({widths[layer]} units, "
                f"numbered {unit_base}-{widths[layer] - 1 + unit_base}): "
                f"{_listed([str(u + unit_base) for u in over])}{hint}; fix them or drop "
                "their rows")
    unrecorded = [layer for layer in layers if layer not in widths]
    if len(unrecorded) == len(layers):
        raise ImportedError(f"{where}: none of its layers ({_listed(unrecorded)}) is described "
                            f"by this run (recorded: {', '.join(widths)}); add them to "
                            "`layers`, or import a file for a described layer")
    return [f"{where}: {int((table['layer'] == layer).sum())} row(s) of layer {layer}, which "
            "this run does not describe, are not scored" for layer in unrecorded]
