"""The tuning job's choices: ``tuning/kappa.json``.

``split`` (``name``: tuning, ``seed``, ``images``), ``criterion``, ``kappas`` (swept),
``layers``, ``methods`` (method -> ``kappa``: the chosen one, ``view``, ``sweep``: one row
per kappa with its ``score`` and ``layers``: layer -> hit_rate, precision, recall, f1,
n_neurons), ``gradcam_fraction`` (null, or ``method``, ``kappa``, ``configured``,
``chosen`` and its ``sweep``; reported only, the run keeps ``views.gradcam_fraction``) and
``seconds``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conceptlens.io.atomic import PathLike, atomic_write_json


def save_tuning(path: PathLike, tuning: Mapping[str, Any]) -> None:
    """Write the tuning result (atomic; NaN as null)."""
    atomic_write_json(path, dict(tuning))


def load_tuning(path: PathLike) -> dict[str, Any]:
    """The tuning result; a file without ``methods`` is an error naming it."""
    with open(path) as f:
        tuning = json.load(f)
    if not isinstance(tuning, dict) or "methods" not in tuning:
        raise ValueError(f"{path}: not a tuning/kappa.json (no 'methods')")
    return tuning
