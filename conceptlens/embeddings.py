"""CLIP embeddings of images (views of the probe set) and of concept texts, as files.

Image files hold ``image_ids`` (n,) int and ``embeddings`` (n, d) float16, L2-normalised.
Text files hold ``concepts`` (n,) str, ``embeddings`` (n, d) float16 of the prompts, the
``template`` string and ``template_embedding`` (d,) of the template alone.
"""

from __future__ import annotations

import os
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


def _atomic_savez(path: str | os.PathLike, **arrays) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_text_embeddings(path, concepts: list[str], embeddings: np.ndarray, template: str,
                         template_embedding: np.ndarray) -> None:
    _atomic_savez(path, concepts=np.array(concepts, dtype=object).astype(str),
                  embeddings=embeddings.astype(np.float16), template=np.array(template),
                  template_embedding=template_embedding.astype(np.float16))


def load_text_embeddings(path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(concepts, embeddings (n, d) float32, template embedding (d,) float32)."""
    with np.load(path) as data:
        return (list(data["concepts"]), torch.from_numpy(data["embeddings"].astype(np.float32)),
                torch.from_numpy(data["template_embedding"].astype(np.float32)))


def save_image_embeddings(path, image_ids: np.ndarray, embeddings: np.ndarray) -> None:
    _atomic_savez(path, image_ids=image_ids.astype(np.int64), embeddings=embeddings.astype(np.float16))


def load_image_embeddings(path) -> tuple[np.ndarray, torch.Tensor]:
    """(image ids (n,), embeddings (n, d) float32)."""
    with np.load(path) as data:
        return data["image_ids"].astype(np.int64), torch.from_numpy(data["embeddings"].astype(np.float32))


def rows_of(image_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``image_ids`` of each id in ``wanted`` (any shape); missing ids are an error."""
    order = np.argsort(image_ids)
    pos = np.searchsorted(image_ids, wanted, sorter=order)
    pos = np.clip(pos, 0, len(image_ids) - 1)
    rows = order[pos]
    if not np.array_equal(image_ids[rows], wanted):
        raise ValueError("some images of the top-k sets have no embedding")
    return rows
