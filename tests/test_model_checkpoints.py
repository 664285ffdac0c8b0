"""Checkpoint round trips through torchvision's model and open_clip's own loader."""

from __future__ import annotations

import open_clip
import pytest
import torch

from conceptlens.models.clip import (
    WORLD_CLIP_NAME,
    create_world_clip,
    load_clip,
    register_model_configs,
    save_clip_checkpoint,
)
from conceptlens.models.target import (
    build_world_target,
    load_target_checkpoint,
    save_target_checkpoint,
)
from tests.conftest import REPO

SHIPPED_TARGET = REPO / "resources" / "world" / "target.pt"
SHIPPED_CLIP = REPO / "resources" / "world" / "clip.pt"


def test_world_target_keeps_4x4_at_layer4():
    model = build_world_target(10).eval()
    shapes = {}
    for name in ("layer1", "layer4"):
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 10)
    assert shapes["layer4"] == (2, 512, 4, 4)


def test_target_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_world_target(10).eval()
    path = tmp_path / "target.pt"
    save_target_checkpoint(model, [f"c{i}" for i in range(10)], path)
    loaded, classes = load_target_checkpoint(path)
    assert classes == [f"c{i}" for i in range(10)]
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        expected = a.half().float() if a.is_floating_point() else a
        assert torch.equal(expected, b), k
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=0.05)


def test_target_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_target_checkpoint(tmp_path / "nope.pt")
    torch.save({"architecture": "other"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a world target"):
        load_target_checkpoint(tmp_path / "x.pt")


def test_clip_checkpoint_loads_through_open_clip_like_a_hub_model(tmp_path):
    torch.manual_seed(0)
    model = create_world_clip().eval()
    path = tmp_path / "clip.pt"
    save_clip_checkpoint(model, path)
    register_model_configs()
    assert WORLD_CLIP_NAME in open_clip.list_models()
    loaded, _, preprocess = open_clip.create_model_and_transforms(WORLD_CLIP_NAME, pretrained=str(path))
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a.half().float() if a.is_floating_point() else a, b), k
    tokenizer = open_clip.get_tokenizer(WORLD_CLIP_NAME)
    tokens = tokenizer(["a photo of a red star"])
    assert tokens.shape == (1, 24)
    model2, _, tok2 = load_clip(WORLD_CLIP_NAME, str(path))
    with torch.no_grad():
        assert torch.allclose(model2.encode_text(tok2(["a star"])), loaded.encode_text(tokenizer(["a star"])))


def test_missing_clip_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_clip(WORLD_CLIP_NAME, str(tmp_path / "missing.pt"))


def test_loaded_models_run_channels_last_with_the_same_outputs():
    """The inference stages get channels-last models (faster convolutions); their outputs
    equal the contiguous layout's."""
    from conceptlens.models.zoo import load_target

    target, _ = load_target({"source": "world", "path": str(SHIPPED_TARGET)})
    clip, _, _ = load_clip(WORLD_CLIP_NAME, str(SHIPPED_CLIP))
    assert target.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert clip.visual.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        fast = target(x), clip.encode_image(x)
        target.to(memory_format=torch.contiguous_format)
        clip.to(memory_format=torch.contiguous_format)
        plain = target(x), clip.encode_image(x)
    for a, b in zip(fast, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
