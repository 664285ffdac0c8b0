"""Stages of rules ``clip_image_embeddings`` and ``clip_text_embeddings``: a CLIP model's
embeddings of image sets (views of the probe images) and of concept sets with templates.

An image set is a view and a subset: ``topk``, each distinct image of any neuron's top-k
set on that view (families that read top-k sets); ``all``, the whole probe set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

_LOG = logging.getLogger(__name__)


def image_set_ids(subset: str, topk_indices: Sequence[np.ndarray], n_images: int
                  ) -> np.ndarray:
    """(n,) sorted probe ids of an image set: ``all`` (0..n_images-1) or ``topk`` (every id
    of the given (n_neurons, k) top-k index matrices: those over the probe set and those
    within its selection half, which the evidence stage chooses descriptions on)."""
    if subset == "all":
        return np.arange(n_images)
    if subset != "topk":
        raise ValueError(f"unknown image subset {subset!r} (valid: topk, all)")
    return np.unique(np.concatenate([t.ravel() for t in topk_indices]))


def embed_image_sets(model, files: Sequence[Path], sets: Mapping[str, tuple[np.ndarray,
                                                                            np.ndarray]],
                     batch_size: int, workers: int, precision: str = "float32",
                     log: logging.Logger = _LOG) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (ids (n,), L2-normalised float32 embeddings (n, d)) of each image set, given
    as name -> (boxes (n_images, 4) of its view, ids (n,) of its images)."""
    from conceptlens.embeddings import embed_view_images

    out = {}
    for name, (boxes, ids) in sets.items():
        out[name] = ids, embed_view_images(model, files, boxes, ids, batch_size, workers,
                                           precision, desc=f"CLIP images, {name}")
        log.info("%s: embedded %d images", name, len(ids))
    return out


def clip_image_embeddings(split: str | Path, plan: Sequence[Mapping], clip: Mapping,
                          pretrained: str | None, batch_size: int, workers: int,
                          precision: str = "float32", device: str = "auto",
                          log: logging.Logger = _LOG) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The image sets of ``plan`` (each ``name``, ``subset``, ``boxes``: its view's boxes
    file, ``topk``: the top-k files of a ``topk`` subset) embedded by CLIP ``clip``
    (``name``) with weights ``pretrained``."""
    from conceptlens.devices import resolve_device
    from conceptlens.io.probe import probe_files, read_attributes
    from conceptlens.io.topk import load_topk
    from conceptlens.io.views import load_boxes
    from conceptlens.models.clip import load_clip

    files = probe_files(split, read_attributes(split))
    model, _, _ = load_clip(clip["name"], pretrained, resolve_device(device))
    sets = {s["name"]: (load_boxes(s["boxes"]),
                        image_set_ids(s["subset"], [load_topk(f, half=half)[0] for f in s["topk"]
                                                  for half in (False, True)],
                                      len(files)))
            for s in plan}
    return embed_image_sets(model, files, sets, batch_size, workers, precision, log)


def embed_concept_texts(model, tokenizer, concepts: list[str], templates: Mapping[str, str],
                        precision: str = "float32", log: logging.Logger = _LOG
                        ) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """key -> (template, prompt embeddings (n, d) float32, template-alone embedding (d,))
    of ``concepts`` with each of ``templates`` (key -> text with ``{}``)."""
    from conceptlens.devices import precision_context
    from conceptlens.embeddings import embed_concepts

    device = next(model.parameters()).device
    embedded = {}
    for key, template in templates.items():
        with precision_context(precision, device):
            emb, alone = embed_concepts(model, tokenizer, concepts, template)
        embedded[key] = template, emb, alone
        log.info("embedded %d concepts with %s: %r", len(concepts), key, template)
    return embedded


def clip_text_embeddings(concepts: list[str], clip: Mapping, pretrained: str | None,
                         templates: Mapping[str, str], precision: str = "float32",
                         device: str = "auto", log: logging.Logger = _LOG
                         ) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """:func:`embed_concept_texts` with CLIP ``clip`` (``name``) and weights
    ``pretrained``."""
    from conceptlens.devices import resolve_device
    from conceptlens.models.clip import load_clip

    model, _, tokenizer = load_clip(clip["name"], pretrained, resolve_device(device))
    return embed_concept_texts(model, tokenizer, concepts, templates, precision, log)
