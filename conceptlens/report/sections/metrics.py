"""The metric tables' sections: Table 1 (descriptions against the ground truth) and the
Grad-CAM × t-vMF ablation, each with the published numbers given in the settings."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from conceptlens.report import table_models
from conceptlens.report.sections.model import Section

NO_GROUND_TRUTH = ("No layer of this run has ground truth (no planted concepts, no class "
                   "names): the tables of descriptions against it are left out; the evidence "
                   "section says how far each description can be trusted.")


def table1_section(table1: pd.DataFrame, published: Mapping) -> Section:
    """Table 1 of ``metrics/<concepts>/table1.csv`` (all concept sets); without rows (no
    layer has ground truth), one line saying so and what is left out."""
    if not len(table1):
        return Section("ground_truth", "Ground truth", text=NO_GROUND_TRUTH)
    return Section("table1", "Descriptions against the ground truth",
                   tables=[table_models.table1(table1, published)])


def ablation_section(ablation: pd.DataFrame, published: Mapping) -> Section | None:
    """The ablation table of ``metrics/<concepts>/ablation.csv``; None without rows."""
    if not len(ablation):
        return None
    return Section("ablation", "Grad-CAM × t-vMF ablation",
                   tables=[table_models.ablation(ablation, published)])


def claims_section(claims: pd.DataFrame | None) -> Section | None:
    """The seeds' claims (``metrics/claims.csv``) with their intervals; None without
    rows (no ablation, or no ground truth)."""
    if claims is None or not len(claims):
        return None
    return Section("claims", "The seeds' claims, measured", tables=[table_models.claims(claims)])
