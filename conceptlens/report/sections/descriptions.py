"""The last section: every description of the run, and the order descriptions are shown in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from conceptlens.report import table_models
from conceptlens.report.formatting import format_count
from conceptlens.report.sections.model import Section


def config_order(frame: pd.DataFrame, config: Mapping) -> pd.DataFrame:
    """Rows sorted by concept set, method and layer in the config's order (unknown ones
    after, in their first-seen order), then unit."""
    if not len(frame):
        return frame
    keys = {}
    for column, known in (("concept_set", config.get("concept_sets") or {}),
                          ("method", config.get("methods") or {}),
                          ("layer", config.get("layers") or [])):
        order = {v: k for k, v in enumerate(dict.fromkeys([*known, *frame[column]]))}
        keys[column] = frame[column].map(order)
    order = np.lexsort((frame["unit"].to_numpy(), keys["layer"].to_numpy(),
                        keys["method"].to_numpy(), keys["concept_set"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def method_order(frame: pd.DataFrame, config: Mapping) -> list[str]:
    """The methods of the config, then any other method of ``frame`` (first-seen order)."""
    known = list(config.get("methods") or {})
    seen = [str(m) for m in frame["method"]] if len(frame) else []
    return list(dict.fromkeys([*known, *seen]))


def descriptions_section(descriptions: pd.DataFrame, ground_truth: pd.DataFrame,
                         per_neuron: pd.DataFrame, pdf_rows: int = 40,
                         evidence: pd.DataFrame | None = None,
                         methods: Sequence[str] = ()) -> Section | None:
    """All descriptions (sortable and filterable in the HTML, with a filter by method; the
    first ``pdf_rows`` in the PDF, which says so) with their ground truth and scores, and
    their evidence when given; None without descriptions.

    methods: the configured methods, in order (:func:`method_order`); the filter lists
    each with its number of rows, and the text names those without descriptions."""
    if not len(descriptions):
        return None
    counts = descriptions["method"].astype(str).value_counts()
    methods = list(dict.fromkeys([*map(str, methods), *map(str, descriptions["method"])]))
    shown = [m for m in methods if counts.get(m, 0)]
    absent = [m for m in methods if not counts.get(m, 0)]
    sets = list(dict.fromkeys(map(str, descriptions["concept_set"])))
    text = (f"{format_count(len(descriptions))} descriptions of {len(shown)} "
            f"method{'s' if len(shown) != 1 else ''} ({', '.join(shown)}) on "
            f"{len(sets)} concept set{'s' if len(sets) != 1 else ''} ({', '.join(sets)}).")
    if absent:
        text += (f" No descriptions of {', '.join(absent)} were given to the report.")
    return Section(
        "descriptions", "All descriptions", text=text,
        tables=[table_models.descriptions(descriptions, ground_truth, per_neuron,
                                          evidence=evidence)],
        pdf_tables=[table_models.descriptions(descriptions, ground_truth, per_neuron,
                                              int(pdf_rows), evidence)],
        method_filter=[(m, int(counts[m])) for m in shown])
