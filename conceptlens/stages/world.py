"""Stages of the synthetic world: its image splits, concept set and hierarchy, the sample
figure, the two world models trained from scratch and their held-out quality.

Torch is imported only by the training and quality stages, inside them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from conceptlens.io.atomic import PathLike, atomic_path
from conceptlens.io.probe import load_split_images, read_attributes

if TYPE_CHECKING:
    from torch import nn

LOG = logging.getLogger("conceptlens.stages.world")
SAMPLE_GRID_IMAGES = 24
CLIP_PROMPT = "a photo of a {value}"


def world_split(out_dir: PathLike, *, seed: int, n_images: int, image_size: int,
                central_distractor_probability: float, workers: int = 1,
                log: logging.Logger = LOG) -> Path:
    """Generate a world split into ``out_dir`` (``images/``, ``attributes.parquet``,
    ``captions.parquet``; replaced atomically).  The one world stage that writes: its
    worker processes stream the images to disk as they render them."""
    from conceptlens.world.generate import SplitSpec, write_split

    spec = SplitSpec(seed=seed, n_images=n_images, image_size=image_size,
                     central_distractor_probability=central_distractor_probability)
    log.info("generating %s", spec)
    out = write_split(spec, out_dir, workers=workers)
    log.info("wrote %s", out)
    return out


class WorldConcepts(NamedTuple):
    """The world concept set and its hierarchy (child -> parent, None for a root)."""

    concepts: list[str]
    parents: dict[str, str | None]


def world_concepts(log: logging.Logger = LOG) -> WorldConcepts:
    """The full world vocabulary plus out-of-world words, and the world hierarchy."""
    from conceptlens.world.vocabulary import world_concepts as vocabulary_concepts
    from conceptlens.world.vocabulary import world_hierarchy

    out = WorldConcepts(vocabulary_concepts(), world_hierarchy())
    log.info("%d world concepts, %d hierarchy nodes", len(out.concepts), len(out.parents))
    return out


def world_sample_grid(split_dir: PathLike, path: PathLike, log: logging.Logger = LOG) -> None:
    """A figure of the first probe images titled with their ground truth, saved to ``path``
    (a figure is no stage's input, so it has no :mod:`conceptlens.io` module)."""
    from conceptlens.world.figures import sample_grid

    attributes = read_attributes(split_dir).head(SAMPLE_GRID_IMAGES)
    with atomic_path(path) as tmp:
        sample_grid(load_split_images(split_dir, attributes), attributes, tmp)
    log.info("sample grid of %d images of %s", len(attributes), split_dir)


class TrainedModel(NamedTuple):
    """A model trained by a world stage, its classes (target only) and its training log
    (``config``, ``train_images``, ``wall_seconds``, ``history``)."""

    model: nn.Module
    classes: list[str]
    training_log: dict[str, Any]


def train_world_target(split_dir: PathLike, train: dict, threads: int = 1,
                       log: logging.Logger = LOG) -> TrainedModel:
    """Train the world ResNet-18 from scratch on the main shapes of a world split."""
    import numpy as np

    from conceptlens.models.training import TrainConfig, train_target
    from conceptlens.world.vocabulary import SHAPES, WorldVocabulary

    attributes = read_attributes(split_dir)
    images = load_split_images(split_dir, attributes)
    labels = np.array([SHAPES.index(s) for s in attributes["shape"]])
    cfg = TrainConfig(threads=threads, **train)
    values = WorldVocabulary().attribute_values()
    auxiliary = {a: np.array([values[a].index(v) for v in attributes[a]]) for a in cfg.auxiliary}
    start = time.time()
    model, history = train_target(images, labels, len(SHAPES), cfg, log.info,
                                  main_boxes=object_boxes(attributes, "main"),
                                  auxiliary_labels=auxiliary)
    return TrainedModel(model, list(SHAPES), _training_log(cfg, images, start, history))


def train_world_clip(split_dir: PathLike, train: dict, threads: int = 1,
                     log: logging.Logger = LOG) -> TrainedModel:
    """Train the world's tiny open_clip CLIP from scratch on a world split's captions."""
    import pandas as pd

    from conceptlens.models.training import TrainConfig, train_clip

    attributes = read_attributes(split_dir)
    captions = pd.read_parquet(Path(split_dir) / "captions.parquet")
    images = load_split_images(split_dir, attributes)
    cfg = TrainConfig(threads=threads, **train)
    start = time.time()
    model, history = train_clip(images, captions, cfg, log.info,
                                main_boxes=object_boxes(attributes, "main"),
                                distractor_boxes=object_boxes(attributes, "d1"))
    return TrainedModel(model, [], _training_log(cfg, images, start, history))


def object_boxes(attributes, prefix: str):
    """(n, 4) int64 boxes x0, y0, x1, y1 px of an attribute table's ``main`` objects or
    first distractors (``d1``; -1 where an image has none)."""
    return attributes[[f"{prefix}_{c}" for c in ("x0", "y0", "x1", "y1")]].to_numpy("int64")


def _training_log(cfg, images, start: float, history: list) -> dict[str, Any]:
    return {"config": vars(cfg), "train_images": len(images),
            "wall_seconds": time.time() - start, "history": history}


def world_models_quality(target_checkpoint: PathLike, clip_checkpoint: PathLike, *, seed: int,
                         n_images: int, image_size: int, log: logging.Logger = LOG
                         ) -> dict[str, Any]:
    """Accuracies of the world target (main shape) and CLIP (zero-shot, each attribute) on
    ``n_images`` fresh world images of ``seed``, whole and as crops of
    :data:`~conceptlens.models.quality.CROP_FRACTION` of the side around the main object,
    the CLIP's logit scale and image-text cosine statistics over the world concepts, and
    how many target neurons of ``layer4`` and ``fc`` get a planted concept of each
    attribute."""
    from conceptlens.models.clip import WORLD_CLIP_NAME, load_clip
    from conceptlens.models.quality import (
        CROP_FRACTION,
        clip_zero_shot_accuracy,
        cosine_statistics,
        crops_resized,
        heldout_images,
        main_object_windows,
        planted_truth_counts,
        target_accuracy,
    )
    from conceptlens.models.target import load_target_checkpoint
    from conceptlens.world.vocabulary import world_concepts

    images, rows = heldout_images(seed, n_images, image_size)
    crops = crops_resized(images, main_object_windows(rows, image_size, CROP_FRACTION))
    target, classes = load_target_checkpoint(target_checkpoint)
    clip, _, tokenizer = load_clip(WORLD_CLIP_NAME, str(clip_checkpoint))
    quality = {
        "heldout_seed": seed,
        "heldout_images": n_images,
        "target_shape_accuracy": target_accuracy(target, classes, images, rows),
        "clip_zero_shot_accuracy": clip_zero_shot_accuracy(clip, tokenizer, images, rows),
        "crop_fraction": CROP_FRACTION,
        "target_shape_accuracy_crops": target_accuracy(target, classes, crops, rows),
        "clip_zero_shot_accuracy_crops": clip_zero_shot_accuracy(clip, tokenizer, crops,
                                                                 rows),
        "clip_logit_scale": float(clip.logit_scale.detach().exp()),
        "clip_cosines": cosine_statistics(clip, tokenizer, images, rows, world_concepts()),
        "clip_prompt": CLIP_PROMPT,
        "planted_truth": planted_truth_counts(target, classes, images, rows),
    }
    log.info("quality: %s", quality)
    return quality
