"""Training of the world models: deterministic per seed, in both precisions, bad settings named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from conceptlens.models.training import TrainConfig, train_clip, train_target
from conceptlens.world.captions import caption_variants
from conceptlens.world.generate import SplitSpec, render_images
from conceptlens.world.vocabulary import SHAPES


@pytest.fixture(scope="module")
def split():
    images, rows, scenes = render_images(SplitSpec(seed=3, n_images=24), range(24))
    labels = np.array([SHAPES.index(r["shape"]) for r in rows])
    captions = pd.DataFrame([{"image_id": r["image_id"], "kind": kind, "caption": text}
                             for r, s in zip(rows, scenes)
                             for kind, text in caption_variants(s).items()])
    return images, labels, captions


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("precision", ["autocast", "float32"])
def test_target_training_is_deterministic_and_learns(split, precision):
    images, labels, _ = split
    cfg = TrainConfig(steps=3, batch_size=8, lr=0.002, warmup_steps=1, log_every=1,
                      precision=precision)
    first, history = train_target(images, labels, len(SHAPES), cfg, log=lambda _: None)
    second, _ = train_target(images, labels, len(SHAPES), cfg, log=lambda _: None)
    assert _same(_weights(first), _weights(second))
    assert [h["step"] for h in history] == [1, 2, 3]
    assert all(np.isfinite(h["loss"]) for h in history)
    other, _ = train_target(images, labels, len(SHAPES), TrainConfig(**{**vars(cfg), "seed": 1}),
                            log=lambda _: None)
    assert not _same(_weights(first), _weights(other))


def test_auxiliary_heads_change_the_training_and_leave_a_plain_classifier(split):
    """Auxiliary colour/background heads add their losses (other weights than shape alone),
    stay deterministic, and leave no hook or head on the returned model."""
    from conceptlens.world.vocabulary import WorldVocabulary

    images, labels, _ = split
    _, rows, _ = render_images(SplitSpec(seed=3, n_images=24), range(24))
    values = WorldVocabulary().attribute_values()
    aux = {a: np.array([values[a].index(r[a]) for r in rows]) for a in ("color", "background")}
    cfg = TrainConfig(steps=3, batch_size=8, lr=0.002, warmup_steps=1, log_every=1,
                      auxiliary={"color": 0.5, "background": 0.5})
    first, _ = train_target(images, labels, len(SHAPES), cfg, log=lambda _: None,
                            auxiliary_labels=aux)
    second, _ = train_target(images, labels, len(SHAPES), cfg, log=lambda _: None,
                             auxiliary_labels=aux)
    plain, _ = train_target(images, labels, len(SHAPES),
                            TrainConfig(**{**vars(cfg), "auxiliary": {}}), log=lambda _: None)
    assert _same(_weights(first), _weights(second))
    assert not _same(_weights(first), _weights(plain))
    assert _weights(first).keys() == _weights(plain).keys()
    assert not first.avgpool._forward_hooks
    with pytest.raises(ValueError, match="auxiliary heads \\['color'\\] have no labels"):
        train_target(images, labels, len(SHAPES), TrainConfig(**{**vars(cfg), "auxiliary":
                                                                {"color": 1.0}}),
                     log=lambda _: None)


def test_clip_training_is_deterministic_in_bfloat16(split):
    images, _, captions = split
    cfg = TrainConfig(steps=2, batch_size=8, lr=0.002, warmup_steps=1, log_every=1)
    assert cfg.precision == "autocast"
    first, history = train_clip(images, captions, cfg, log=lambda _: None)
    second, _ = train_clip(images, captions, cfg, log=lambda _: None)
    assert _same(_weights(first), _weights(second))
    assert all(np.isfinite(h["loss"]) for h in history)
    # the weights stay float32: autocast only lowers the forward passes
    assert all(v.dtype == torch.float32 for v in first.state_dict().values() if v.is_floating_point())


def test_unknown_precision_is_named(split):
    images, labels, _ = split
    cfg = TrainConfig(steps=1, batch_size=4, lr=0.002, precision="half")
    with pytest.raises(ValueError, match="precision: 'half'"):
        train_target(images, labels, len(SHAPES), cfg, log=lambda _: None)


def test_object_crops_hold_the_whole_main_object_and_identity_windows_change_nothing():
    import numpy as np
    import torch

    from conceptlens.models.training import (
        _distractor_visible,
        object_crop_windows,
        resized_crops,
    )

    rng = np.random.default_rng(0)
    x0 = rng.integers(0, 40, 200)
    y0 = rng.integers(0, 40, 200)
    boxes = torch.from_numpy(np.stack([x0, y0, x0 + 20, y0 + 24], 1))
    windows = object_crop_windows(boxes, 64, 1.0, 0.4, torch.Generator().manual_seed(1))
    side = windows[:, 2] - windows[:, 0]
    assert torch.allclose(side, windows[:, 3] - windows[:, 1])  # square
    assert (side >= 24).all() and (side <= 64).all() and (side < 40).any()
    assert (windows[:, :2] <= boxes[:, :2]).all() and (windows[:, 2:] >= boxes[:, 2:]).all()
    assert (windows >= 0).all() and (windows <= 64).all()
    none = object_crop_windows(boxes, 64, 0.0, 0.4, torch.Generator().manual_seed(1))
    assert (none == torch.tensor([0.0, 0, 64, 64])).all()
    images = torch.from_numpy(rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    assert torch.equal(resized_crops(images, none[:3]), images)
    # the distractor caption counts only where its centre is inside the crop
    distractors = torch.tensor([[2, 2, 6, 6], [-1, -1, -1, -1]])
    visible = _distractor_visible(torch.tensor([[10.0, 10, 40, 40], [10, 10, 40, 40]]),
                                  distractors)
    assert visible.tolist() == [False, True]
