"""The last section: every description of the run, and the order descriptions are shown in."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from conceptlens.report import table_models
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


def descriptions_section(descriptions: pd.DataFrame, ground_truth: pd.DataFrame,
                         per_neuron: pd.DataFrame, pdf_rows: int = 40,
                         evidence: pd.DataFrame | None = None) -> Section | None:
    """All descriptions (sortable and filterable in the HTML; the first ``pdf_rows`` in the
    PDF) with their ground truth and scores, and their evidence when given; None without
    descriptions."""
    if not len(descriptions):
        return None
    return Section(
        "descriptions", "All descriptions",
        tables=[table_models.descriptions(descriptions, ground_truth, per_neuron,
                                          evidence=evidence)],
        pdf_tables=[table_models.descriptions(descriptions, ground_truth, per_neuron,
                                              int(pdf_rows), evidence)])
