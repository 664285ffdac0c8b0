"""Stage of rule ``describe``: concept scores and descriptions of every layer by every
method, for one concept set.  Embeddings, top-k sets and activations shared by several
methods load once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from functools import cache

import numpy as np
import pandas as pd

from conceptlens import methods
from conceptlens.methods import LayerInputs, MethodScores
from conceptlens.progress import progress
from conceptlens.tuning import resolve_kappa

_LOG = logging.getLogger(__name__)


def describe_layer(settings: Mapping, layer: str, concepts: list[str], inputs: LayerInputs,
                   units: np.ndarray | None = None) -> tuple[pd.DataFrame, MethodScores]:
    """The descriptions table of one method on one layer (every neuron, or ``units``) and
    the method's scores of those neurons.

    ``inputs`` cover every neuron of the layer (top-k sets or activations); scores that
    depend on all neurons of the layer (CLIP-Dissect's PMI) are computed on all of them
    before ``units`` are kept.
    """
    import torch

    from conceptlens.describe import descriptions_table

    if units is not None and inputs.topk is not None:
        inputs = dataclasses.replace(inputs, topk=inputs.topk[units])
    result = methods.score(settings, inputs)
    if units is not None and len(result.scores) != len(units):
        keep = torch.from_numpy(np.asarray(units))
        result = MethodScores(result.scores[keep], result.selected[keep],
                              None if result.weak is None else result.weak[keep], result.n_nan)
    table = descriptions_table(layer, result.scores, concepts, result.selected, result.weak)
    if units is not None:
        table["unit"] = units
    return table, result


def describe_plan(plan: Sequence[Mapping], log: logging.Logger = _LOG
                  ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """For each step of ``plan`` (``method``, ``layer``, ``settings``, ``image_set``,
    ``template`` and ``inputs``: ``text``, ``images`` and the file its family reads,
    ``topk`` or ``activations``, and for a ``kappa: tuned`` method ``tuning``, the tuning
    job's tuning/kappa.json that gives its kappa), its descriptions table and (n_neurons, n_concepts) float32
    scores, in plan order."""
    import torch

    from conceptlens.io.activations import load_activations
    from conceptlens.io.embeddings import load_image_embeddings, load_text_embeddings
    from conceptlens.io.topk import load_topk

    text_embeddings, image_embeddings = cache(load_text_embeddings), cache(load_image_embeddings)
    activations_of, topk_of = cache(load_activations), cache(load_topk)
    for step in progress(plan, desc="descriptions (method, layer)", unit="steps", log=log):
        settings, layer, files = step["settings"], step["layer"], step["inputs"]
        if methods.is_tuned(settings):
            settings = resolve_kappa(step["method"], settings, files.get("tuning"))
            log.info("%s %s: kappa %g, chosen on the tuning split (%s)", step["method"],
                     layer, settings["kappa"], files["tuning"])
        concepts, text_emb, template_emb = text_embeddings(files["text"], step["template"])
        image_ids, image_emb = image_embeddings(files["images"], step["image_set"])
        size = methods.topk_size(settings)
        inputs = LayerInputs(
            image_ids, torch.from_numpy(image_emb), torch.from_numpy(text_emb),
            torch.from_numpy(template_emb),
            topk=topk_of(files["topk"], size)[0] if "topk" in files else None,
            activations=activations_of(files["activations"])[0]
            if "activations" in files else None)
        table, result = describe_layer(settings, layer, concepts, inputs)
        if result.weak is not None:
            log.info("%s %s: %d neurons, %d weak (no concept above the template)",
                     step["method"], layer, len(result.scores), int(result.weak.sum()))
        if result.n_nan:
            log.warning("%s %s: %d NaN similarities rank last", step["method"], layer,
                        result.n_nan)
        log.info("%s: described %d neurons of %s with %d concepts", step["method"], len(table),
                 layer, len(concepts))
        yield table, result.scores.cpu().numpy()
