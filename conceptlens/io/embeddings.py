"""CLIP embeddings of images and concept texts, and the metric models' text embeddings.

- ``clip/<clip>/images.npz`` (one a CLIP model) holds image sets, each named
  ``<view>.<subset>`` (subset ``topk``: the images of any neuron's top-k set on the view;
  ``all``: the whole probe set): ``<name>.image_ids`` (n,) int64 and ``<name>.embeddings``
  (n, d) float16, L2-normalised.
- ``clip/<clip>/text/<concepts>.npz`` (one a CLIP model and concept set): ``concepts``
  (n,) str and, for each template key (e.g. ``photo``), ``<key>.embeddings`` (n, d)
  float16 of the prompts, the ``<key>.template`` string and ``<key>.template_embedding``
  (d,) float16 of the template alone.
- ``metrics/<concepts>/text_embeddings.npz``: ``texts`` (n,) str and their ``clip`` and
  ``sentence`` embeddings (n, d) float32.

Loaders return numpy arrays (float32); scoring code wraps them in tensors.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from conceptlens.io.atomic import PathLike, atomic_savez


def _names_by_suffix(path: PathLike, suffix: str) -> list[str]:
    """The names ``<name><suffix>`` of the arrays of an npz file, in file order."""
    with np.load(path) as data:
        return [k.removesuffix(suffix) for k in data.files if k.endswith(suffix)]


def _missing(path: PathLike, what: str, present: list[str]) -> KeyError:
    return KeyError(f"{path} has no {what} (it has {', '.join(present) or 'none'})")


def save_text_embeddings(path: PathLike, concepts: list[str],
                         templates: Mapping[str, tuple[str, np.ndarray, np.ndarray]]) -> None:
    """Write a concept set's embeddings with each template: key -> (template string,
    prompt embeddings (n, d), template-alone embedding (d,)) (atomic)."""
    arrays = {"concepts": np.array(concepts, dtype=object).astype(str)}
    for key, (template, embeddings, template_embedding) in templates.items():
        if len(embeddings) != len(concepts):
            raise ValueError(f"template {key}: {len(embeddings)} embeddings for "
                             f"{len(concepts)} concepts")
        arrays[f"{key}.template"] = np.array(template)
        arrays[f"{key}.embeddings"] = np.asarray(embeddings).astype(np.float16)
        arrays[f"{key}.template_embedding"] = np.asarray(template_embedding).astype(np.float16)
    atomic_savez(path, **arrays)


def text_template_keys(path: PathLike) -> list[str]:
    """Template keys of a file of :func:`save_text_embeddings`."""
    return _names_by_suffix(path, ".embeddings")


def load_text_embeddings(path: PathLike, template: str
                         ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The concept set with template key ``template``: (concepts, embeddings (n, d) float32,
    template embedding (d,) float32).  A key the file lacks is an error naming the file and
    its keys."""
    with np.load(path) as data:
        if f"{template}.embeddings" not in data.files:
            raise _missing(path, f"embeddings with template {template!r}",
                           text_template_keys(path))
        return ([str(c) for c in data["concepts"]],
                data[f"{template}.embeddings"].astype(np.float32),
                data[f"{template}.template_embedding"].astype(np.float32))


def save_image_embeddings(path: PathLike, sets: Mapping[str, tuple[np.ndarray, np.ndarray]]
                          ) -> None:
    """Write image sets: name -> (image ids (n,), embeddings (n, d)) (atomic)."""
    arrays = {}
    for name, (image_ids, embeddings) in sets.items():
        if len(image_ids) != len(embeddings):
            raise ValueError(f"image set {name}: {len(image_ids)} ids, {len(embeddings)} "
                             "embeddings")
        arrays[f"{name}.image_ids"] = np.asarray(image_ids).astype(np.int64)
        arrays[f"{name}.embeddings"] = np.asarray(embeddings).astype(np.float16)
    atomic_savez(path, **arrays)


def image_set_names(path: PathLike) -> list[str]:
    """Names of the image sets in a file of :func:`save_image_embeddings`."""
    return _names_by_suffix(path, ".image_ids")


def load_image_embeddings(path: PathLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Image set ``name`` (e.g. ``center.topk``) of a file: (image ids (n,) int64,
    embeddings (n, d) float32).  A set the file lacks is an error naming the file and its
    sets."""
    with np.load(path) as data:
        if f"{name}.image_ids" not in data.files:
            raise _missing(path, f"image set {name!r}", image_set_names(path))
        return (data[f"{name}.image_ids"].astype(np.int64),
                data[f"{name}.embeddings"].astype(np.float32))


def save_metric_text_embeddings(path: PathLike, texts: list[str], clip: np.ndarray,
                                sentence: np.ndarray) -> None:
    """Write the metric models' embeddings of ``texts``: CLIP (n, d) and sentence (n, d')
    (atomic)."""
    if not len(texts) == len(clip) == len(sentence):
        raise ValueError(f"{len(texts)} texts, {len(clip)} CLIP and {len(sentence)} sentence "
                         "embeddings")
    atomic_savez(path, texts=np.array(texts, dtype=str), clip=np.asarray(clip, np.float32),
                 sentence=np.asarray(sentence, np.float32))


def load_metric_text_embeddings(path: PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, CLIP embeddings (n, d) float32, sentence embeddings (n, d') float32)."""
    with np.load(path) as data:
        missing = {"texts", "clip", "sentence"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a metric text embeddings file, missing "
                             f"{sorted(missing)}")
        return [str(t) for t in data["texts"]], data["clip"], data["sentence"]
