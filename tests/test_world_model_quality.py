"""The shipped world models meet the quality bars on freshly generated held-out images."""

from __future__ import annotations

import pytest

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
from tests.conftest import REPO

SHIPPED = REPO / "resources" / "world"
FRESH_SEED = 20261122  # used by no split, training or published quality check


@pytest.fixture(scope="module", params=["whole", "crops"])
def fresh(request):
    """Fresh images, whole and as crops of CROP_FRACTION of the side around the main
    object (resized back: the models must recognise a 2x zoom)."""
    images, rows = heldout_images(FRESH_SEED, 1000)
    if request.param == "crops":
        images = crops_resized(images, main_object_windows(rows, images.shape[1], CROP_FRACTION))
    return images, rows


@pytest.mark.slow
def test_target_classifies_the_main_shape(fresh):
    images, rows = fresh
    model, classes = load_target_checkpoint(SHIPPED / "target.pt")
    assert target_accuracy(model, classes, images, rows) >= 0.95


@pytest.mark.slow
def test_clip_zero_shot_shape_and_color(fresh):
    images, rows = fresh
    model, _, tokenizer = load_clip(WORLD_CLIP_NAME, str(SHIPPED / "clip.pt"))
    accuracy = clip_zero_shot_accuracy(model, tokenizer, images, rows)
    assert accuracy["shape"] >= 0.90
    assert accuracy["color"] >= 0.95


@pytest.mark.slow
def test_clip_cosines_sit_in_a_narrow_band_as_a_real_clips():
    """At OpenAI CLIP's logit scale (100) the world CLIP's image-text cosines sit in the
    narrow band real CLIPs show (ViT-B/32 image-caption cosines lie between about 0 and
    0.4: Hessel et al., CLIPScore, EMNLP 2021): measured 2026-12-04 a per-image spread
    of 0.24 over the world concepts, best minus second 0.044, matched pairs 0.33 against
    unmatched 0.20 (the learned-scale CLIP before: 0.88, 0.19, 0.42 and -0.11)."""
    from conceptlens.world.vocabulary import world_concepts

    images, rows = heldout_images(FRESH_SEED, 500)
    model, _, tokenizer = load_clip(WORLD_CLIP_NAME, str(SHIPPED / "clip.pt"))
    assert float(model.logit_scale.detach().exp()) == pytest.approx(100, rel=1e-3)
    stats = cosine_statistics(model, tokenizer, images, rows, world_concepts())
    assert 0.1 <= stats["spread_median"] <= 0.4
    assert stats["best_minus_second_median"] <= 0.1
    assert 0.0 <= stats["unmatched_mean"] < stats["matched_mean"] <= 0.5


@pytest.mark.slow
def test_a_quarter_of_the_planted_neurons_carry_no_shape():
    """The target learns colour, texture and background beside shape (auxiliary heads),
    so at least a quarter of the planted neurons of the described layers (layer4, fc)
    carry a colour, texture or background concept, and each of the three occurs."""
    images, rows = heldout_images(FRESH_SEED, 1000)
    model, classes = load_target_checkpoint(SHIPPED / "target.pt")
    counts = planted_truth_counts(model, classes, images, rows)
    assert counts["non_shape_share"] >= 0.25
    assert {"shape", "color", "texture", "background"} <= set(counts["layers"]["layer4"])
    assert counts["layers"]["fc"] == {"shape": len(classes)}


def test_shipped_checkpoints_fit_the_size_budget():
    sizes = [(SHIPPED / name).stat().st_size for name in ("target.pt", "clip.pt")]
    assert sum(sizes) <= 40 * 1024 * 1024
