"""How the report prints numbers: the single place that turns values into table text."""

from __future__ import annotations

import math

PERCENT_METRICS = frozenset({"hit_rate", "precision", "recall", "f1", "clip_cos",
                             "sentence_cos", "top1", "top5"})
"""Metrics stored as fractions in [0, 1] and printed as percentages."""
LOWER_IS_BETTER = frozenset({"mean_rank"})
MISSING = "–"


def _finite(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def format_metric(value: object, metric: str) -> str:
    """A measured metric as printed: fractions as percent with one decimal ("67.2"), the
    mean rank with two decimals; NaN or None -> "–"."""
    v = _finite(value)
    if v is None:
        return MISSING
    if metric in PERCENT_METRICS:
        return f"{100 * v + 0.0:.1f}"
    if metric in LOWER_IS_BETTER:
        return f"{v + 0.0:.2f}"
    return f"{v + 0.0:.3g}"


def format_se(value: object, metric: str) -> str:
    """A standard error as printed beside its metric ("± 2.1"); "" when missing."""
    text = format_metric(value, metric)
    return "" if text == MISSING else f"± {text}"


def format_published(value: object, metric: str) -> str:
    """A published number, given in the printed unit (percent for rates and cosines)."""
    v = _finite(value)
    if v is None:
        return MISSING
    return f"{v + 0.0:.2f}" if metric in LOWER_IS_BETTER else f"{v + 0.0:.1f}"


def format_percent(value: object, decimals: int = 1) -> str:
    """A number already in percent (0-100), e.g. the stability table's columns."""
    v = _finite(value)
    return MISSING if v is None else f"{v + 0.0:.{decimals}f}"


def format_seconds(seconds: object) -> str:
    """Wall time: "4.2 s" below a minute, "3 min 05 s" below an hour, else "1 h 02 min"."""
    v = _finite(seconds)
    if v is None:
        return MISSING
    if v < 59.95:
        return f"{v:.1f} s"
    total = int(round(v))
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    minutes = int(round(v / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_count(value: object) -> str:
    """An integer count with thousands separators ("4,698")."""
    v = _finite(value)
    return MISSING if v is None else f"{int(round(v)):,}"
