"""The evidence section: how far each method's descriptions can be trusted without ground
truth (evidence/<concepts>/summary.csv), and, where there is ground truth, how well that
evidence tells hits from misses (evidence/<concepts>/check.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conceptlens.report.formatting import MISSING, format_count
from conceptlens.report.sections.model import Section
from conceptlens.report.table_models import Cell, Row, Table

PROTOCOL = (
    "Each method chose its description again on one half of the probe set (the selection "
    "half); the evidence scores that description on the other half, so no image a "
    "description was chosen from scores it. Simulation: the correlation between the "
    "neuron's activation and the CLIP prediction of the description (similarity to the "
    "prompt minus similarity to the template alone), over the neuron's most activating "
    "images and as many others drawn at random. Contrast: the AUC of the activation "
    "between the images CLIP ranks as showing the concept (the top {fraction:.0%}) and the "
    "rest. A description beats its shuffled baseline when both scores are higher than "
    "under at least {confidence:.0%} of the other neurons' descriptions (those that differ "
    "from its own).")


def _number(value: object, digits: int = 2) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return MISSING
    return MISSING if np.isnan(value) else f"{value:.{digits}f}"


def _percent(value: object) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return MISSING
    return MISSING if np.isnan(value) else f"{100 * value:.0f}"


def summary_table(summary: pd.DataFrame) -> Table:
    """One row per concept set, method and layer of the evidence summaries."""
    rows = []
    for concept_set, group in summary.groupby("concept_set", sort=False):
        rows.append(Row([Cell(f"Concept set {concept_set}")], cls="group"))
        for r in group.itertuples(index=False):
            rows.append(Row([
                Cell(str(r.method)), Cell(str(r.layer)),
                Cell(format_count(r.neurons), cls="num"),
                Cell(_number(r.simulation_pearson_median), cls="num"),
                Cell(_number(r.contrast_auc_median), cls="num"),
                Cell(_percent(r.beats_shuffled_fraction), cls="num"),
                Cell(_percent(r.heldout_agrees_fraction), cls="num"),
                Cell(_percent(r.agreement_mean), cls="num")]))
    return Table(
        "evidence", "Evidence for the descriptions, without ground truth: median held-out "
        "simulation (Pearson r) and contrast AUC, the share of neurons whose description "
        "beats its shuffled baseline, whose description chosen on the selection half is the "
        "reported one, and the mean share of the other methods giving the same description.",
        ["Method", "Layer", "Neurons", "Simulation r", "Contrast AUC",
         "Beats shuffled (%)", "Same on half (%)", "Methods agree (%)"], rows,
        ["l", "l", "r", "r", "r", "r", "r", "r"],
        ["Per neuron in the neuron explorer and the descriptions table (flags)."])


def check_table(check: pd.DataFrame) -> Table:
    """How well the evidence tells hits from misses where there is ground truth."""
    rows = []
    for concept_set, group in check.groupby("concept_set", sort=False):
        rows.append(Row([Cell(f"Concept set {concept_set}")], cls="group"))
        for r in group.itertuples(index=False):
            rows.append(Row([
                Cell(str(r.method)), Cell(str(r.layer)),
                Cell(format_count(r.n_hits), cls="num"),
                Cell(format_count(r.n_misses), cls="num"),
                Cell(_number(r.simulation_pearson_auroc), cls="num"),
                Cell(_number(r.contrast_auc_auroc), cls="num"),
                Cell(_number(r.simulation_pearson_f1_spearman), cls="num"),
                Cell(_number(r.contrast_auc_f1_spearman), cls="num")]))
    return Table(
        "evidence_check", "The evidence against the ground truth: AUROC with which the "
        "simulation and contrast scores separate hits from misses, and their Spearman "
        "correlation with F1.",
        ["Method", "Layer", "Hits", "Misses", "Simulation AUROC", "Contrast AUROC",
         "Simulation ρ(F1)", "Contrast ρ(F1)"], rows, ["l", "l", "r", "r", "r", "r", "r", "r"],
        ["AUROC 0.5 = the score does not tell hits from misses; – = no hits or no misses."])


def evidence_section(summary: pd.DataFrame, check: pd.DataFrame,
                     contrast_fraction: float = 0.1, significance: float = 0.05
                     ) -> Section | None:
    """The evidence summaries (all concept sets, a ``concept_set`` column) and, when it has
    rows, the check against ground truth, under the protocol with the config's
    ``evidence`` settings; None without summaries."""
    if not len(summary):
        return None
    text = PROTOCOL.format(fraction=contrast_fraction, confidence=1 - significance)
    section = Section("evidence", "Evidence for the descriptions", text=text,
                      tables=[summary_table(summary)])
    if len(check) and (check["n_hits"].fillna(0) + check["n_misses"].fillna(0)).sum() > 0:
        section.tables.append(check_table(check))
    return section
