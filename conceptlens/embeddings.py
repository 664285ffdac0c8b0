"""CLIP embeddings of images (views of the probe set) and of concept texts, as files.

An image file (one a CLIP model) holds image sets, each named ``<view>.<subset>`` (subset
``topk``: the images of any neuron's top-k set; ``all``: the whole probe set): its
``<name>.image_ids`` (n,) int and ``<name>.embeddings`` (n, d) float16, L2-normalised.
A text file (one a CLIP model and concept set) holds ``concepts`` (n,) str and, for each
template key (e.g. ``photo``), ``<key>.embeddings`` (n, d) float16 of the prompts, the
``<key>.template`` string and ``<key>.template_embedding`` (d,) of the template alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn


def template_alone(template: str) -> str:
    """The template without its concept: "A photo of a {}" -> "A photo of a"."""
    return template.replace("{}", "").strip()


def prompts(concepts: list[str], template: str) -> list[str]:
    return [template.replace("{}", c) for c in concepts]


def embed_concepts(model: nn.Module, tokenizer, concepts: list[str], template: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(concept prompt embeddings (n, d), template-alone embedding (d,)), float32."""
    from conceptlens.models.clip import encode_texts  # open_clip is slow to import

    emb = encode_texts(model, tokenizer, prompts(concepts, template)).cpu().numpy()
    alone = template_alone(template)
    alone_emb = encode_texts(model, tokenizer, [alone]).cpu().numpy()[0] if alone else np.zeros(emb.shape[1])
    return emb, alone_emb


def embed_view_images(model: nn.Module, files: list, boxes: np.ndarray, ids: np.ndarray,
                      batch_size: int, workers: int, precision: str = "float32") -> np.ndarray:
    """(len(ids), d) float32 L2-normalised CLIP embeddings of images ``ids`` of ``files``
    cropped to ``boxes`` (n, 4), streamed in batches; ``precision``: float32 or autocast."""
    from conceptlens.activations import precision_context
    from conceptlens.models.clip import clip_input_size, clip_normalize_float
    from conceptlens.views import view_loader

    device = next(model.parameters()).device
    out = []
    with torch.no_grad(), precision_context(precision, device):
        for x in view_loader(files, boxes, clip_input_size(model), batch_size, workers, ids):
            emb = model.encode_image(clip_normalize_float(model, x.to(device, non_blocking=True)))
            out.append(nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _atomic_savez(path: str | os.PathLike, **arrays) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_text_embeddings(path, concepts: list[str],
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
    _atomic_savez(path, **arrays)


def _names_by_suffix(path, suffix: str) -> list[str]:
    """The names ``<name><suffix>`` of the arrays of an npz file, in file order."""
    with np.load(path) as data:
        return [k.removesuffix(suffix) for k in data.files if k.endswith(suffix)]


def _missing(path, what: str, present: list[str]) -> KeyError:
    return KeyError(f"{path} has no {what} (it has {', '.join(present) or 'none'})")


def text_template_keys(path) -> list[str]:
    """Template keys of a file of :func:`save_text_embeddings`."""
    return _names_by_suffix(path, ".embeddings")


def load_text_embeddings(path, template: str) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """The concept set with template key ``template``: (concepts, embeddings (n, d) float32,
    template embedding (d,) float32).  A key the file lacks is an error naming the file and
    its keys."""
    with np.load(path) as data:
        if f"{template}.embeddings" not in data.files:
            raise _missing(path, f"embeddings with template {template!r}",
                           text_template_keys(path))
        return (list(data["concepts"]),
                torch.from_numpy(data[f"{template}.embeddings"].astype(np.float32)),
                torch.from_numpy(data[f"{template}.template_embedding"].astype(np.float32)))


def save_image_embeddings(path, sets: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write image sets: name -> (image ids (n,), embeddings (n, d)) (atomic)."""
    arrays = {}
    for name, (image_ids, embeddings) in sets.items():
        if len(image_ids) != len(embeddings):
            raise ValueError(f"image set {name}: {len(image_ids)} ids, {len(embeddings)} embeddings")
        arrays[f"{name}.image_ids"] = np.asarray(image_ids).astype(np.int64)
        arrays[f"{name}.embeddings"] = np.asarray(embeddings).astype(np.float16)
    _atomic_savez(path, **arrays)


def image_set_names(path) -> list[str]:
    """Names of the image sets in a file of :func:`save_image_embeddings`."""
    return _names_by_suffix(path, ".image_ids")


def load_image_embeddings(path, name: str) -> tuple[np.ndarray, torch.Tensor]:
    """Image set ``name`` (e.g. ``center.topk``) of a file: (image ids (n,), embeddings
    (n, d) float32).  A set the file lacks is an error naming the file and its sets."""
    with np.load(path) as data:
        if f"{name}.image_ids" not in data.files:
            raise _missing(path, f"image set {name!r}", image_set_names(path))
        return (data[f"{name}.image_ids"].astype(np.int64),
                torch.from_numpy(data[f"{name}.embeddings"].astype(np.float32)))


def rows_of(image_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``image_ids`` of each id in ``wanted`` (any shape); missing ids are an error."""
    order = np.argsort(image_ids)
    pos = np.searchsorted(image_ids, wanted, sorter=order)
    pos = np.clip(pos, 0, len(image_ids) - 1)
    rows = order[pos]
    if not np.array_equal(image_ids[rows], wanted):
        raise ValueError("some images of the top-k sets have no embedding")
    return rows
