"""Quality of the world models on freshly generated held-out images."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from conceptlens.models.clip import clip_normalize, encode_images, encode_texts
from conceptlens.models.target import normalize_images
from conceptlens.world.generate import SplitSpec, render_images
from conceptlens.world.vocabulary import WorldVocabulary

SHAPE_PROMPT = "a photo of a {}"
#: side of the held-out crops around the main object, as a fraction of the image side
CROP_FRACTION = 0.5
COLOR_PROMPT = "a photo of a {}"


def heldout_images(seed: int, n_images: int, image_size: int = 64) -> tuple[np.ndarray, list[dict]]:
    """Fresh world images (with distractors) of a seed not used for training."""
    images, rows, _ = render_images(SplitSpec(seed=seed, n_images=n_images, image_size=image_size),
                                    range(n_images))
    return images, rows


@torch.no_grad()
def target_accuracy(model: nn.Module, classes: list[str], images: np.ndarray, rows: list[dict],
                    batch_size: int = 256) -> float:
    """Share of images whose main shape the target predicts."""
    labels = np.array([classes.index(r["shape"]) for r in rows])
    x = torch.from_numpy(images)
    preds = torch.cat([model(normalize_images(x[s:s + batch_size])).argmax(1)
                       for s in range(0, len(x), batch_size)])
    return float((preds.numpy() == labels).mean())


@torch.no_grad()
def clip_zero_shot_accuracy(model: nn.Module, tokenizer, images: np.ndarray, rows: list[dict],
                            vocab: WorldVocabulary | None = None) -> dict[str, float]:
    """Zero-shot accuracy for each attribute with the prompt "a photo of a {value}"."""
    vocab = vocab or WorldVocabulary()
    image_emb = encode_images(model, clip_normalize(model, torch.from_numpy(images)))
    result = {}
    for attribute, values in vocab.attribute_values().items():
        text_emb = encode_texts(model, tokenizer, [SHAPE_PROMPT.format(v) for v in values])
        pred = (image_emb @ text_emb.T).argmax(1).numpy()
        truth = np.array([values.index(r[attribute]) for r in rows])
        result[attribute] = float((pred == truth).mean())
    return result


@torch.no_grad()
def planted_truth_counts(model: nn.Module, classes: list[str], images: np.ndarray,
                         rows: list[dict], layers: tuple[str, ...] = ("layer4", "fc"),
                         threshold: float = 0.85, batch_size: int = 256) -> dict:
    """How many neurons of each of ``layers`` of the world target get a planted concept of
    each attribute on ``images`` (the workflow's rule: class names for ``fc``, the best
    AUROC of the channel's spatial mean >= ``threshold`` else), and the share of them
    whose concept is no shape: ``{"layers": {layer: {attribute: n}}, "non_shape_share"}``."""
    import pandas as pd

    from conceptlens.activations import record_activations
    from conceptlens.ground_truth import neuron_ground_truth

    x = torch.from_numpy(images)
    acts = record_activations(model, (normalize_images(x[s:s + batch_size])
                                      for s in range(0, len(x), batch_size)), list(layers))
    table = neuron_ground_truth(acts, pd.DataFrame(rows), classes, threshold)
    counts = table.groupby(["layer", "attribute"]).size()
    return {"layers": {layer: {a: int(n) for a, n in counts[layer].items()} for layer in layers
                       if layer in counts.index.get_level_values(0)},
            "threshold": threshold,
            "non_shape_share": float((table["attribute"] != "shape").mean())}


def main_object_windows(rows: list[dict], image_size: int, fraction: float) -> np.ndarray:
    """(n, 4) int boxes x0, y0, x1, y1 px: square windows of side ``fraction`` of the image
    centred on each image's main object (its box centre), shifted inside the image
    (:func:`conceptlens.views.boxes_around`)."""
    from conceptlens.views import boxes_around

    centres = np.array([((r["main_x0"] + r["main_x1"]) / 2 - 0.5,
                         (r["main_y0"] + r["main_y1"]) / 2 - 0.5) for r in rows])
    side = max(1, int(round(fraction * image_size)))
    return boxes_around(centres, side, image_size, image_size)


def crops_resized(images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """uint8 (n, h, w, 3) crops of ``images`` to ``boxes`` (n, 4 px), each resized back to
    (h, w) as the workflow's views feed crops to a model (:func:`conceptlens.views.
    crop_resize`: bilinear, antialiased)."""
    from conceptlens.views import crop_resize

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    out = crop_resize(x, boxes, images.shape[1])
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def cosine_statistics(model: nn.Module, tokenizer, images: np.ndarray, rows: list[dict],
                      concepts: list[str], prompt: str = SHAPE_PROMPT) -> dict[str, float]:
    """The CLIP's image-text cosine geometry on ``images`` against ``concepts`` (each in
    ``prompt``): medians over images of the per-image spread (max - min cosine over the
    concepts) and of best minus second best, and the mean cosine of matched pairs (the
    image's main shape) and of unmatched ones (the other shapes)."""
    image_emb = encode_images(model, clip_normalize(model, torch.from_numpy(images)))
    cos = image_emb @ encode_texts(model, tokenizer, [prompt.format(c) for c in concepts]).T
    top2 = cos.topk(2, dim=1).values
    vocab = WorldVocabulary()
    shapes = list(vocab.attribute_values()["shape"])
    shape_cos = image_emb @ encode_texts(model, tokenizer,
                                         [prompt.format(s) for s in shapes]).T
    matched = torch.zeros_like(shape_cos, dtype=torch.bool)
    matched[torch.arange(len(rows)), torch.tensor([shapes.index(r["shape"]) for r in rows])] = True
    return {"spread_median": float((cos.max(1).values - cos.min(1).values).median()),
            "best_minus_second_median": float((top2[:, 0] - top2[:, 1]).median()),
            "matched_mean": float(shape_cos[matched].mean()),
            "unmatched_mean": float(shape_cos[~matched].mean())}
