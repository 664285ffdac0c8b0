"""Choosing settings on the world's tuning split, never on the evaluated probe split.

A t-vMF method with ``kappa: tuned`` gets the kappa that describes the planted ground truth
of a separate world split best (``world.tuning_seed``, ``world.tuning_images``): rule
``tune_kappa`` (:func:`conceptlens.stages.tuning.tune_kappa`) sweeps ``tuning.kappas`` on
that split and writes ``tuning/kappa.json``; the describe and evidence stages read the
chosen value from it (:func:`resolve_kappa`).  The same job reports the Grad-CAM window
side the tuning split would choose (``tuning.gradcam_fractions``); it does not drive the run.

Everything here is pure (no torch, no files but :func:`resolve_kappa`'s JSON).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from conceptlens.methods import PAPER_KAPPA, TUNED, is_tuned

#: criteria a sweep can maximise: the mean over the layers with ground truth of
#: :func:`conceptlens.metrics.evaluate_descriptions`' metric of that name
CRITERIA = ("f1", "hit_rate")
#: two criterion values closer than this are a tie whatever ``tuning.tolerance`` says
TIE_TOLERANCE = 1e-9


def tuned_methods(methods: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of the methods whose kappa is ``tuned``, in config order."""
    return [name for name, settings in methods.items() if is_tuned(settings)]


def layer_mean(per_layer: Mapping[str, Mapping[str, float]], criterion: str) -> float:
    """Mean of ``criterion`` over the layers that have neurons with ground truth
    (``n_neurons`` > 0); NaN when none has."""
    values = [m[criterion] for m in per_layer.values()
              if m.get("n_neurons", 0) > 0 and m.get(criterion) is not None
              and not math.isnan(m[criterion])]
    return sum(values) / len(values) if values else float("nan")


def _distance(value: float, preferred: float) -> float:
    """How far ``value`` lies from ``preferred``, on a log scale (0 and negatives last)."""
    if value <= 0 or preferred <= 0:
        return math.inf if value != preferred else 0.0
    return abs(math.log(value / preferred))


def choose(scores: Mapping[float, float], preferred: float, tolerance: float = 0.0) -> float:
    """The value with the best score (NaN scores never win); values within ``tolerance``
    of the best (at least :data:`TIE_TOLERANCE`) tie, and ties go to ``preferred``, else
    to the tied value closest to it (log scale), then to the smaller.  All scores NaN (no
    ground truth): ``preferred``."""
    finite = {v: s for v, s in scores.items() if s is not None and not math.isnan(s)}
    if not finite:
        return preferred
    best = max(finite.values())
    tied = [v for v, s in finite.items() if best - s <= max(tolerance, TIE_TOLERANCE)]
    return min(tied, key=lambda v: (_distance(v, preferred), v))


def choose_kappa(scores: Mapping[float, float], tolerance: float = 0.0) -> float:
    """:func:`choose` with the paper's kappa (:data:`~conceptlens.methods.PAPER_KAPPA`) as
    the tie-break."""
    return choose(scores, PAPER_KAPPA, tolerance)


def sweep_summary(rows: Sequence[Mapping[str, Any]], key: str, criterion: str,
                  preferred: float, tolerance: float = 0.0) -> dict[str, Any]:
    """The choice of a sweep: ``rows`` (each ``key``'s value and ``layers``: layer -> the
    metrics of :func:`conceptlens.metrics.evaluate_descriptions`) with each row's
    ``score`` (:func:`layer_mean` of ``criterion``) added, the chosen value (ties within
    ``tolerance`` go to ``preferred``) and ``best``, the value with the best score alone."""
    scored = [{**row, "score": layer_mean(row["layers"], criterion)} for row in rows]
    scores = {row[key]: row["score"] for row in scored}
    return {"chosen": choose(scores, preferred, tolerance), "best": choose(scores, preferred),
            "criterion": criterion, "sweep": scored}


def resolve_kappa(method: str, settings: Mapping[str, Any], tuning_file: str | None
                  ) -> dict[str, Any]:
    """``settings`` with a ``tuned`` kappa replaced by the one ``tuning_file``
    (``tuning/kappa.json``) chose for ``method``; other settings as they are."""
    if not is_tuned(settings):
        return dict(settings)
    if tuning_file is None:
        raise ValueError(f"method {method}: kappa {TUNED!r} needs the tuning job's "
                         "tuning/kappa.json among its inputs")
    from conceptlens.io.tuning import load_tuning

    chosen = load_tuning(tuning_file)["methods"]
    if method not in chosen:
        raise ValueError(f"{tuning_file}: no kappa tuned for method {method} "
                         f"(tuned: {', '.join(chosen) or 'none'})")
    return {**settings, "kappa": float(chosen[method]["kappa"])}
