"""The report's neurons: ``report/neurons.json``, ``{"concept_set", "method", "view",
"neurons": [{"layer", "unit", "reason", "concept", "image_ids", ...}]}`` (the grids'
neurons, their concept and top images; the ConVis maps rule reads it too)."""

from __future__ import annotations

import json
from pathlib import Path

from conceptlens.io.atomic import PathLike, atomic_write_json

NEURONS_KEYS = ("concept_set", "method", "view", "neurons")
NEURON_KEYS = ("layer", "unit", "reason", "concept", "image_ids")


def save_neurons(path: PathLike, document: dict) -> None:
    """Write the neurons document as indented JSON (atomic)."""
    atomic_write_json(path, document, strict=False)


def read_neurons(path: PathLike) -> dict:
    """The neurons document, checked: its top-level keys and each neuron's fields."""
    doc = json.loads(Path(path).read_text())
    missing = [k for k in NEURONS_KEYS if k not in doc]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    if not isinstance(doc["neurons"], list):
        raise ValueError(f"{path}: expected a 'neurons' list")
    for i, neuron in enumerate(doc["neurons"]):
        absent = [k for k in NEURON_KEYS if k not in neuron]
        if absent:
            raise ValueError(f"{path}: neurons[{i}] lacks {', '.join(absent)}")
    return doc
