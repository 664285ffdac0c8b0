"""Stage of rule ``explorer``: the report's neuron explorer (``report/explorer/``), a card
per described neuron of the report's concept set with every method's concepts, their
evidence, the ground truth where there is one, and the neuron's top images with its
activation maps (:mod:`conceptlens.report.explorer`).  Torch-free."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from conceptlens.io.atomic import PathLike

LOG = logging.getLogger("conceptlens.stages.explorer")


def explorer_cards(descriptions: pd.DataFrame, evidence: pd.DataFrame | None,
                   per_neuron: pd.DataFrame, ground_truth: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, layer, unit) of ``descriptions`` (one concept set), with the
    evidence columns of ``evidence``, ``hit`` from ``per_neuron`` and ``gt_concept`` from
    ``ground_truth`` where they have the neuron."""
    keys = ["method", "layer", "unit"]
    cards = descriptions[[*keys, "concept", "concepts"]].copy()
    cards = cards.assign(layer=cards["layer"].astype(str), unit=cards["unit"].astype(int))
    if evidence is not None and len(evidence):
        columns = [c for c in ("simulation_pearson", "simulation_spearman", "contrast_auc",
                               "contrast_diff", "beats_shuffled", "heldout_agrees",
                               "agreement", "flags") if c in evidence]
        ev = evidence[[*keys, *columns]]
        cards = cards.merge(ev.assign(layer=ev["layer"].astype(str),
                                      unit=ev["unit"].astype(int)), on=keys, how="left")
    if len(per_neuron):
        per = per_neuron[[*keys, "hit"]].drop_duplicates(keys)
        cards = cards.merge(per.assign(layer=per["layer"].astype(str),
                                       unit=per["unit"].astype(int)), on=keys, how="left")
    if len(ground_truth):
        gt = ground_truth[["layer", "unit", "concept"]].rename(columns={"concept": "gt_concept"})
        cards = cards.merge(gt.assign(layer=gt["layer"].astype(str),
                                      unit=gt["unit"].astype(int)), on=["layer", "unit"],
                            how="left")
    return cards


def build_explorer(out_dir: PathLike, descriptions: Sequence[PathLike],
                   evidence: PathLike | None, per_neuron: PathLike, ground_truth: PathLike,
                   neuron_maps: Sequence[PathLike], split: PathLike, *, methods: Sequence[str],
                   thumbnail_size: int = 64, title: str = "conceptlens neuron explorer",
                   log: logging.Logger = LOG) -> dict:
    """Write the explorer of one concept set's ``descriptions`` (every method and layer)
    into ``out_dir``; ``neuron_maps``: ``report/neuron_maps/<layer>.npz`` files (each
    neuron's top images on the full view and its maps on them); ``split``: the probe
    directory the thumbnails are made from.  Returns the explorer's summary (cards,
    thumbnails, bytes)."""
    from conceptlens.io.descriptions import load_descriptions
    from conceptlens.io.evidence import load_evidence
    from conceptlens.io.ground_truth import load_ground_truth
    from conceptlens.io.metrics import load_per_neuron
    from conceptlens.io.neuron_maps import load_neuron_maps
    from conceptlens.io.probe import ProbeImages
    from conceptlens.report.explorer import write_explorer

    cards = explorer_cards(load_descriptions(descriptions),
                           load_evidence(evidence) if evidence else None,
                           load_per_neuron(per_neuron), load_ground_truth(ground_truth))
    top_images, maps = {}, {}
    for path in neuron_maps:
        layer = Path(path).stem  # report/neuron_maps/<layer>.npz
        top_images[layer], maps[layer] = load_neuron_maps(path)
    probe = ProbeImages(split)
    summary = write_explorer(Path(out_dir), cards, top_images, maps, probe.file,
                             thumbnail_size=thumbnail_size, title=title,
                             methods=[m for m in methods if m in set(cards["method"])])
    log.info("explorer: %d cards, %d thumbnails, %.1f MB", summary["n_cards"],
             summary["n_thumbnails"], (summary["html_bytes"] + summary["data_bytes"]
                                       + summary["thumbnail_bytes"]) / 1e6)
    return summary
