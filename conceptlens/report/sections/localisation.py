"""The ConVis localisation section: pointing game and energy share per method."""

from __future__ import annotations

import pandas as pd

from conceptlens.report import table_models
from conceptlens.report.sections.model import Section


def localisation_section(table: pd.DataFrame | None) -> Section | None:
    """The table of ``convis/localisation.csv``; None when the run has none."""
    if table is None:
        return None
    return Section("localisation", "ConVis localisation",
                   tables=[table_models.localisation(table)])
