"""The metric tables' sections: Table 1 (descriptions against the ground truth) and the
Grad-CAM × t-vMF ablation, each with the published numbers given in the settings."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from conceptlens.report import table_models
from conceptlens.report.sections.model import Section


def table1_section(table1: pd.DataFrame, published: Mapping) -> Section | None:
    """Table 1 of ``metrics/<concepts>/table1.csv`` (all concept sets); None without rows."""
    if not len(table1):
        return None
    return Section("table1", "Descriptions against the ground truth",
                   tables=[table_models.table1(table1, published)])


def ablation_section(ablation: pd.DataFrame, published: Mapping) -> Section | None:
    """The ablation table of ``metrics/<concepts>/ablation.csv``; None without rows."""
    if not len(ablation):
        return None
    return Section("ablation", "Grad-CAM × t-vMF ablation",
                   tables=[table_models.ablation(ablation, published)])
