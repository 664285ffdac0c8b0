"""Table models of the report: cells with printed text, standard errors and bold best values.

The template renders a :class:`Table` (booktabs-like rules, caption above, group rows);
these functions decide what is printed. Best values are bold per group (a concept set and
layer), compared at the printed precision, so ties in print are all bold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from conceptlens.report.formatting import (
    LOWER_IS_BETTER,
    MISSING,
    PERCENT_METRICS,
    format_count,
    format_metric,
    format_percent,
    format_published,
    format_se,
)

TABLE1_METRICS: dict[str, str] = {
    "hit_rate": "Hit rate (%)",
    "f1": "F1 (%)",
    "clip_cos": "CLIP cos (%)",
    "sentence_cos": "Sentence cos (%)",
    "top1": "Top-1 (%)",
    "top5": "Top-5 (%)",
    "mean_rank": "Mean rank",
}
"""Metric column -> header of Table 1 and Table 2: the selection's hit rate, F1 and
cosines, then the ranking's top-1 and top-5 accuracy and the ground truth's mean rank
(– for imported descriptions, which have no ranking)."""


@dataclass
class Cell:
    """One table cell: printed ``text``, optional ``se`` ("± 2.1", printed small and grey),
    ``bold`` for the best value, CSS ``cls``, and ``sort`` (the value the HTML table sorts
    by; None = the text)."""

    text: str
    se: str = ""
    bold: bool = False
    cls: str = ""
    sort: str | None = None


@dataclass
class Row:
    """A row of cells; ``cls="group"`` is a heading row (its one cell spans the table)."""

    cells: list[Cell]
    cls: str = ""


@dataclass
class Table:
    """A numbered table: ``key`` (HTML id), ``caption`` (printed after "Table N:"), column
    headers, rows, per-column alignment ("l", "r", "c"), notes printed under it."""

    key: str
    caption: str
    columns: list[str]
    rows: list[Row]
    align: list[str]
    notes: list[str] = field(default_factory=list)
    number: int = 0
    sortable: bool = False


def best_mask(values: pd.Series, metric: str) -> np.ndarray:
    """Which rows hold the best printed value of ``metric`` (max, or min for ranks)."""
    printed = pd.to_numeric(pd.Series([format_metric(v, metric) for v in values]),
                            errors="coerce").to_numpy(dtype=float)
    if np.isnan(printed).all():
        return np.zeros(len(printed), dtype=bool)
    best = np.nanmin(printed) if metric in LOWER_IS_BETTER else np.nanmax(printed)
    return printed == best


def metric_cells(frame: pd.DataFrame, metrics: Sequence[str]) -> list[list[Cell]]:
    """For each row of ``frame``: one cell per metric with its standard error (column
    ``<metric>_se`` when present) and the best value of each column bold."""
    columns = []
    for metric in metrics:
        values = frame[metric] if metric in frame else pd.Series([np.nan] * len(frame))
        ses = frame[f"{metric}_se"] if f"{metric}_se" in frame else [np.nan] * len(frame)
        bold = best_mask(values.reset_index(drop=True), metric)
        columns.append([Cell(format_metric(v, metric), format_se(s, metric), bool(b), "num",
                             sort=format_metric(v, metric))
                        for v, s, b in zip(values, ses, bold)])
    return [list(cells) for cells in zip(*columns)] if columns else [[] for _ in range(len(frame))]


def _ordered(values: pd.Series) -> list:
    return list(dict.fromkeys(values.tolist()))


def _group_label(concept_set: str, layer: str, group: pd.DataFrame) -> str:
    label = f"Concept set {concept_set} · {layer}"
    if "n_neurons" in group and len(group):
        label += f" · {format_count(group['n_neurons'].max())} neurons with ground truth"
    return label


def published_entry(published: Mapping, concept_set: str, method: str, layer: str
                    ) -> Mapping | None:
    """The published numbers of (concept set, method, layer): ``published[cs][method]`` is
    {metric: value} (every layer) or {layer: {metric: value}}; None when absent."""
    entry = (published or {}).get(concept_set, {}).get(method)
    if not entry:
        return None
    if all(isinstance(v, Mapping) for v in entry.values()):
        entry = entry.get(layer)
    if entry is None:
        return None
    known = set(PERCENT_METRICS | LOWER_IS_BETTER)
    unknown = [k for k in entry if k.removesuffix("_se") not in known]
    if unknown:
        raise ValueError(f"report published[{concept_set}][{method}]: unknown metric(s) "
                         f"{', '.join(map(str, unknown))} (known: {', '.join(sorted(known))})")
    return entry


PUBLISHED_NOTE = ("Rows marked (published) give the numbers reported by the method's authors, "
                  "not measured by this run; they are not compared for bold.")


def published_row(first: list[Cell], entry: Mapping, metrics: list[str]) -> Row:
    """A marked row of published numbers: ``first`` cells, then each metric (± its _se)."""
    return Row([*first, *[
        Cell(format_published(entry.get(m), m), "" if entry.get(f"{m}_se") is None
             else f"± {format_published(entry[f'{m}_se'], m)}", cls="num")
        for m in metrics]], cls="published")


def table1(frame: pd.DataFrame, published: Mapping | None = None) -> Table:
    """Table 1: methods x (concept set, layer) x metrics from metrics/<cs>/table1.csv files
    (read with a ``concept_set`` column); published numbers as marked rows under their
    measured method."""
    metrics = list(TABLE1_METRICS)
    rows: list[Row] = []
    any_published = False
    for cs in _ordered(frame["concept_set"]):
        for layer in _ordered(frame.loc[frame["concept_set"] == cs, "layer"]):
            group = frame[(frame["concept_set"] == cs) & (frame["layer"] == layer)]
            rows.append(Row([Cell(_group_label(cs, layer, group))], cls="group"))
            for (_, row), cells in zip(group.iterrows(), metric_cells(group, metrics)):
                rows.append(Row([Cell(str(row["method"])), *cells]))
                entry = published_entry(published or {}, cs, str(row["method"]), str(layer))
                if entry is not None:
                    any_published = True
                    rows.append(published_row([Cell(f"{row['method']} (published)")], entry,
                                              metrics))
    notes = ["Mean ± standard error over the neurons with ground truth; best value per column "
             "and group in bold."]
    if any_published:
        notes.append(PUBLISHED_NOTE)
    return Table("table1", "Neuron descriptions against the ground truth: hit rate, F1, "
                 "CLIP and sentence-embedding cosine similarity of the selected concepts; "
                 "top-1 and top-5 accuracy and mean rank of the ground truth in the full "
                 "ranking.",
                 ["Method", *TABLE1_METRICS.values()], rows, ["l", *"r" * len(metrics)], notes)


def ablation(frame: pd.DataFrame, published: Mapping | None = None) -> Table:
    """Table 2: the Grad-CAM x t-vMF ablation from metrics/<cs>/ablation.csv files;
    published numbers (as in :func:`table1`) as marked rows under their method."""
    metrics = list(TABLE1_METRICS)
    rows: list[Row] = []
    any_published = False
    for cs in _ordered(frame["concept_set"]):
        for layer in _ordered(frame.loc[frame["concept_set"] == cs, "layer"]):
            group = frame[(frame["concept_set"] == cs) & (frame["layer"] == layer)]
            rows.append(Row([Cell(_group_label(cs, layer, group))], cls="group"))
            for (_, row), cells in zip(group.iterrows(), metric_cells(group, metrics)):
                marks = [Cell("✓" if _truthy(row.get(c)) else "", cls="mark")
                         for c in ("gradcam", "tvmf")]
                rows.append(Row([*marks, Cell(str(row["method"])), *cells]))
                entry = published_entry(published or {}, cs, str(row["method"]), str(layer))
                if entry is not None:
                    any_published = True
                    rows.append(published_row(
                        [*marks, Cell(f"{row['method']} (published)")], entry, metrics))
    notes = ["✓ = the component is used. Best value per column and group in bold."]
    if any_published:
        notes.append(PUBLISHED_NOTE)
    return Table("ablation", "Ablation of the two parts of Grad-CAM + t-vMF: the Grad-CAM crop "
                 "(instead of the centre crop) and the t-vMF similarity (instead of cosine).",
                 ["Grad-CAM", "t-vMF", "Method", *TABLE1_METRICS.values()], rows,
                 ["c", "c", "l", *"r" * len(metrics)], notes)


CLAIM_TITLES = {"gradcam_crop": "Grad-CAM crop", "tvmf": "t-vMF", "combined": "Both",
                "gain_grows_with_concepts": "Gain grows with the concept set"}
VERDICT_TEXT = {"holds": "holds", "reversed": "reversed", "unclear": "unclear",
                "no data": "–"}


def claims(frame: pd.DataFrame) -> Table:
    """The seeds' claims of ``metrics/claims.csv``: per comparison, concept set, layer and
    metric the paired difference (percentage points) with its 95% bootstrap interval."""
    rows: list[Row] = []
    for claim in _ordered(frame["claim"]):
        group = frame[frame["claim"] == claim]
        rows.append(Row([Cell(CLAIM_TITLES.get(str(claim), str(claim)))], cls="group"))
        for _, row in group.iterrows():
            low, high = (format_metric(row[c], "hit_rate") for c in ("ci_low", "ci_high"))
            rows.append(Row([
                Cell(str(row["comparison"])), Cell(str(row["concept_set"])),
                Cell(str(row["layer"])), Cell("hit rate" if row["metric"] == "hit" else "F1"),
                Cell(format_count(row["n_neurons"]), cls="num"),
                Cell(format_metric(row["difference"], "hit_rate"), cls="num",
                     bold=row["verdict"] == "holds"),
                Cell(f"[{low}, {high}]", cls="num"),
                Cell(VERDICT_TEXT.get(str(row["verdict"]), str(row["verdict"])))]))
    notes = ["Difference = mean over the neurons with ground truth of the method minus its "
             "baseline (percentage points); 95% paired percentile bootstrap interval over "
             "neurons. A claim holds where the interval lies above 0, is reversed below it, "
             "and is unclear where it holds 0."]
    return Table("claims", "The seeds' claims, measured: each component of Grad-CAM + t-vMF "
                 "against the method without it, and the growth of the gain with the "
                 "concept set's size.",
                 ["Comparison", "Concept set", "Layer", "Metric", "Neurons",
                  "Difference (pp)", "95% interval", "Verdict"],
                 rows, ["l", "l", "l", "l", "r", "r", "r", "l"], notes)


VIEW_TITLES = {"full": "Full image", "center": "Centre crop", "gradcam": "Grad-CAM crop"}


def view_shares(frame: pd.DataFrame) -> Table:
    """What each view's window holds (:func:`conceptlens.view_coverage.view_shares`)."""
    rows = [Row([Cell(VIEW_TITLES.get(str(r["view"]), str(r["view"]))),
                 Cell(format_count(r["images"]), cls="num"),
                 *(Cell(format_metric(r[c], "hit_rate"), cls="num")
                   for c in ("main_whole", "distractor_any", "distractor_area"))])
            for _, r in frame.iterrows()]
    return Table("view_shares", "What the crops hold: the share of probe images whose window "
                 "holds the whole main object, the share (of those with a distractor) whose "
                 "window holds any part of one, and the mean share of the first "
                 "distractor's area inside the window.",
                 ["View", "Images", "Main object whole (%)", "Any distractor (%)",
                  "Distractor area inside (%)"], rows, ["l", "r", "r", "r", "r"], [])


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if value is not None and value == value else False


STABILITY_HEADERS = (("k=", "Same set {} (%)"), ("jaccard ", "Jaccard {}"),
                     ("top-1 ", "Top-1 {} (%)"))


def stability_header(column: str) -> str:
    """Printed header of a stability/table.csv column ("k=5->10" -> "Same set 5→10 (%)")."""
    for prefix, header in STABILITY_HEADERS:
        if column.startswith(prefix):
            return header.format(column[len(prefix):].replace("->", "→"))
    fixed = {"subsample top-1 mean": "Subsample top-1 mean (%)",
             "subsample top-1 std": "Subsample top-1 std (%)", "neurons": "Neurons"}
    return fixed.get(column, column)


def stability(frame: pd.DataFrame, published: Mapping | None = None) -> Table:
    """The stability table (stability/table.csv): one row per name (and layer when given).
    Columns are percentages 0-100, except Jaccard indices (0-1) and the neuron count.
    ``published``: {name: {column: value}} (e.g. ``{"broden_imagenet_wpmi": {"k=5->10":
    100}}``), shown as a marked row after the name's pooled row."""
    value_columns = [c for c in frame.columns if c not in ("name", "layer")]
    headers = ["Name"] + (["Layer"] if "layer" in frame else [])
    headers += [stability_header(c) for c in value_columns]
    published = dict(published or {})
    for name, entry in published.items():
        unknown = [c for c in entry if c not in value_columns or c == "neurons"]
        if unknown:
            raise ValueError(f"report published_stability[{name}]: unknown column(s) "
                             f"{', '.join(map(str, unknown))} (known: "
                             f"{', '.join(c for c in value_columns if c != 'neurons')})")
    rows = []
    for _, row in frame.iterrows():
        cells = [Cell(str(row["name"]))] + ([Cell(str(row["layer"]))] if "layer" in frame else [])
        for c in value_columns:
            if c == "neurons":
                cells.append(Cell(format_count(row[c]), cls="num"))
            elif c.startswith("jaccard"):
                cells.append(Cell(format_percent(row[c], 3), cls="num"))
            else:
                cells.append(Cell(format_percent(row[c]), cls="num"))
        pooled = str(row.get("layer", "all")) == "all"
        rows.append(Row(cells, cls="pooled" if pooled and "layer" in frame else ""))
        entry = published.pop(str(row["name"]), None) if pooled else None
        if entry is not None:
            cells = [Cell(f"{row['name']} (published)")] + ([Cell("all")] if "layer" in frame
                                                             else [])
            cells += [Cell(MISSING if entry.get(c) is None else
                           format_percent(entry[c], 3 if c.startswith("jaccard") else 2),
                           cls="num") for c in value_columns]
            rows.append(Row(cells, cls="published"))
    notes = ["Layer \"all\": the neurons of all layers pooled."] if "layer" in frame else []
    if any(r.cls == "published" for r in rows):
        notes.append(PUBLISHED_NOTE.replace(" they are not compared for bold.", ""))
    return Table("stability", "Stability of CLIP-Dissect labels: share of neurons whose "
                 "top-5 label set is unchanged when the number k of activating images grows, "
                 "mean Jaccard index of the two sets, top-1 agreement, and top-1 agreement "
                 "with the full probe set on sub-sampled probe sets (mean and standard "
                 "deviation over seeds).",
                 headers, rows, ["l"] * (len(headers) - len(value_columns))
                 + ["r"] * len(value_columns), notes)


def localisation(frame: pd.DataFrame) -> Table:
    """The ConVis localisation table (convis/localisation.csv: pointing in percent, energy
    share as a fraction, printed as percent); best per attribute bold."""
    rows = []
    for attribute in _ordered(frame["attribute"]):
        group = frame[frame["attribute"] == attribute]
        rows.append(Row([Cell(f"Concept: the main object's {attribute}")], cls="group"))
        cells = {}
        for c, scale in (("pointing", 1.0), ("energy_share", 100.0)):
            v = pd.to_numeric(group[c], errors="coerce") * scale
            se = pd.to_numeric(group[f"{c}_se"], errors="coerce") * scale
            printed = pd.to_numeric(v.map(format_percent), errors="coerce")
            bold = (printed == printed.max()).to_numpy()
            cells[c] = [Cell(format_percent(x), "" if format_percent(s) == MISSING
                             else f"± {format_percent(s)}", bool(b), "num")
                        for x, s, b in zip(v, se, bold)]
        for k, (_, row) in enumerate(group.iterrows()):
            rows.append(Row([Cell(str(row["method"])), cells["pointing"][k],
                             cells["energy_share"][k], Cell(format_count(row["images"]), cls="num")]))
    return Table("localisation", "Localisation of the main object by ConVis maps and two "
                 "baselines: pointing game (the map's maximum inside the object's box) and "
                 "energy share (the map's mass inside the box).",
                 ["Method", "Pointing game (%)", "Energy share (%)", "Images"], rows,
                 ["l", "r", "r", "r"], ["Mean ± standard error over the evaluated probe "
                                        "images; best per concept in bold."])


def hit_mark(hit: object) -> Cell:
    """✓ for a hit, ✗ for a miss, – without ground truth."""
    if hit is None or (isinstance(hit, float) and np.isnan(hit)):
        return Cell(MISSING, cls="mark", sort="")
    return Cell("✓", cls="mark hit", sort="1") if bool(hit) else Cell("✗", cls="mark miss",
                                                                        sort="0")


def descriptions(frame: pd.DataFrame, ground_truth: pd.DataFrame, per_neuron: pd.DataFrame,
                 max_rows: int | None = None, evidence: pd.DataFrame | None = None) -> Table:
    """All descriptions: concept set, method, layer, unit, the selected concepts; the ground
    truth, hit and F1 (from the per-neuron metrics) when any layer has ground truth; the
    held-out simulation, contrast AUC and flags (``evidence``, evidence/<concepts>/
    table.parquet with a concept_set column) when given. ``max_rows`` keeps the first rows
    (PDF)."""
    table = frame[["concept_set", "method", "layer", "unit", "concepts"]
                  + (["weak"] if "weak" in frame else [])].copy()
    table["unit"] = table["unit"].astype(int)
    with_truth = len(ground_truth) > 0
    gt = ground_truth[["layer", "unit", "concept"]].rename(columns={"concept": "gt"})
    table = table.merge(gt.assign(unit=gt["unit"].astype(int)), on=["layer", "unit"], how="left")
    if len(per_neuron):
        per = per_neuron[["concept_set", "method", "layer", "unit", "hit", "f1"]]
        per = per.assign(layer=per["layer"].astype(str), unit=per["unit"].astype(int))
        table = table.merge(per, on=["concept_set", "method", "layer", "unit"], how="left")
    else:
        table = table.assign(hit=np.nan, f1=np.nan)
    with_evidence = evidence is not None and len(evidence) > 0
    if with_evidence:
        ev = evidence[["concept_set", "method", "layer", "unit", "simulation_pearson",
                       "contrast_auc", "flags"]]
        ev = ev.assign(layer=ev["layer"].astype(str), unit=ev["unit"].astype(int))
        table = table.merge(ev, on=["concept_set", "method", "layer", "unit"], how="left")
    total = len(table)
    if max_rows is not None:
        table = table.iloc[:max_rows]
    rows = []
    for r in table.itertuples(index=False):
        text = ", ".join(r.concepts) + (" (weak)" if getattr(r, "weak", False) else "")
        cells = [Cell(str(r.concept_set)), Cell(str(r.method)), Cell(str(r.layer)),
                 Cell(str(r.unit), cls="num", sort=str(r.unit)), Cell(text)]
        if with_truth:
            cells += [Cell(MISSING if not isinstance(r.gt, str) else r.gt), hit_mark(r.hit),
                      Cell(format_metric(r.f1, "f1"), cls="num")]
        if with_evidence:
            cells += [Cell(_score(r.simulation_pearson), cls="num"),
                      Cell(_score(r.contrast_auc), cls="num"),
                      Cell(r.flags if isinstance(r.flags, str) and r.flags else "")]
        rows.append(Row(cells))
    notes = []
    if max_rows is not None and total > len(table):
        kept = "; ".join(
            f"concept set {cs}, method{'s' if len(ms) > 1 else ''} {', '.join(ms)}"
            for cs, part in table.groupby("concept_set", sort=False)
            for ms in [list(dict.fromkeys(map(str, part["method"])))])
        n_methods = frame["method"].nunique()
        notes.append(f"The first {format_count(len(table))} of {format_count(total)} rows "
                     f"({kept}); report.html holds every row of the "
                     f"{format_count(n_methods)} method{'s' if n_methods != 1 else ''}, "
                     "sortable, with a filter by method and by text.")
    headers = ["Concept set", "Method", "Layer", "Unit", "Description"]
    align = ["l", "l", "l", "r", "l"]
    caption = "All neuron descriptions: the selected concepts (best first)"
    if with_truth:
        headers += ["Ground truth", "Hit", "F1 (%)"]
        align += ["l", "c", "r"]
        caption += ", the ground truth, whether a concept matches it, and F1"
    if with_evidence:
        headers += ["Simulation r", "Contrast AUC", "Flags"]
        align += ["r", "r", "l"]
        caption += (", and the evidence: held-out simulation (Pearson r), contrast AUC and "
                    "the flags of the evidence stage")
    return Table("descriptions", caption + ".", headers, rows, align, notes,
                 sortable=max_rows is None)


def _score(value: object) -> str:
    """A correlation or AUC with 2 decimals; – when missing."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return MISSING
    return MISSING if np.isnan(value) else f"{value:.2f}"
