"""CLIP embeddings of images (views of the probe set) and of concept prompts.

The files they are stored in: :mod:`conceptlens.io.embeddings`.
"""

from __future__ import annotations

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

    emb = encode_texts(model, tokenizer, prompts(concepts, template),
                       desc=f"CLIP text embeddings of {template!r}").cpu().numpy()
    alone = template_alone(template)
    alone_emb = encode_texts(model, tokenizer, [alone]).cpu().numpy()[0] if alone else np.zeros(emb.shape[1])
    return emb, alone_emb


def embed_view_images(model: nn.Module, files: list, boxes: np.ndarray, ids: np.ndarray,
                      batch_size: int, workers: int, precision: str = "float32",
                      desc: str = "CLIP image embeddings") -> np.ndarray:
    """(len(ids), d) float32 L2-normalised CLIP embeddings of images ``ids`` of ``files``
    cropped to ``boxes`` (n, 4), streamed in batches; ``precision``: float32 or autocast;
    ``desc``: the name of its progress lines (:mod:`conceptlens.progress`)."""
    from conceptlens.devices import precision_context
    from conceptlens.models.clip import clip_input_size, clip_normalize_float
    from conceptlens.progress import progress_batches
    from conceptlens.views import view_loader

    device = next(model.parameters()).device
    out = []
    loader = view_loader(files, boxes, clip_input_size(model), batch_size, workers, ids)
    with torch.no_grad(), precision_context(precision, device):
        for x in progress_batches(loader, total=len(ids), desc=desc):
            emb = model.encode_image(clip_normalize_float(model, x.to(device, non_blocking=True)))
            out.append(nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
