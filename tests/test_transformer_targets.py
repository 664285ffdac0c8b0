"""Transformer targets: how ViT tokens and Swin maps become one value per neuron and
Grad-CAM maps (conceptlens/models/layouts.py), and ``conceptlens describe`` on a
random-weight torchvision ViT-B/16."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import models
from torchvision.ops.misc import Permute

from conceptlens.activations import layer_widths, record_activations
from conceptlens.cli import main
from conceptlens.models.layouts import SUPPORTED_SHAPES, LayerLayout, LayoutError, layer_layout
from conceptlens.views import gradcam_maps

VIT_LAYER = "encoder.layers.encoder_layer_11"


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return models.vit_b_16(weights=None).eval()


@pytest.fixture(scope="module")
def swin():
    torch.manual_seed(0)
    return models.swin_t(weights=None).eval()


def _tokens(n: int = 2, grid: int = 14, d: int = 768, prefix: int = 1) -> torch.Tensor:
    """(n, prefix + grid², d) tokens whose prefix tokens are far larger than any patch's."""
    x = torch.rand(n, prefix + grid * grid, d)
    x[:, :prefix] += 100.0
    return x


def test_vit_tokens_reduce_over_patch_tokens_or_take_the_class_token(vit):
    layout = layer_layout(vit, VIT_LAYER)
    assert (layout.prefix_tokens, layout.class_token, layout.grid) == (1, True, (14, 14))
    x = _tokens()
    assert torch.allclose(layout.values(x, tokens="mean"), x[:, 1:].mean(1))
    assert torch.equal(layout.values(x, tokens="max"), x[:, 1:].amax(1))
    assert layout.values(x, tokens="max").max() < 1.0  # the class token (> 100) left out
    assert torch.equal(layout.values(x, tokens="cls"), x[:, 0])
    maps = layout.maps(x)  # patch tokens on the 14 x 14 grid, channels first
    assert maps.shape == (2, 768, 14, 14)
    assert torch.equal(maps[1, 5, 3, 7], x[1, 1 + 3 * 14 + 7, 5])
    # the patch embedding is a conv; the heads are linear
    conv = layer_layout(vit, "conv_proj")
    assert conv.four_d == "nchw" and conv.prefix_tokens is None
    y = torch.rand(2, 768, 14, 14)
    assert torch.allclose(conv.values(y, "max"), y.amax(dim=(2, 3)))
    assert layer_layout(vit, "heads").kind(torch.zeros(2, 1000)) == "linear"


def test_swin_maps_are_channels_last(swin):
    layout = layer_layout(swin, "features.7")
    x = torch.rand(2, 7, 7, 768)  # (n, h, w, c), as torchvision's Swin stages output
    assert torch.allclose(layout.values(x, tokens="mean"), x.mean(dim=(1, 2)))
    assert torch.equal(layout.values(x, tokens="max"), x.amax(dim=(1, 2)))
    assert torch.equal(layout.maps(x)[1, 100, 2, 5], x[1, 2, 5, 100])
    with pytest.raises(LayoutError, match=r"config key target.tokens: 'cls' takes the class "
                                          r"token, but layer features.7 of torchvision "
                                          r"SwinTransformer .*without one"):
        layout.values(x, tokens="cls")
    # the patch embedding's conv and the permute back to channels-first are NCHW
    assert [layer_layout(swin, n).four_d for n in ("features.0.0", "features.0.2", "norm",
                                                   "permute", "avgpool")] == [
        "nchw", "nhwc", "nhwc", "nchw", "nchw"]
    # the same numbers laid out (n, c, h, w) would be reduced over other axes
    widths = layer_widths(swin, ["features.5", "features.7", "permute", "head"], 224)
    assert widths == {"features.5": 384, "features.7": 768, "permute": 768, "head": 1000}
    acts = record_activations(swin, [torch.rand(2, 3, 224, 224)], ["norm", "permute"])
    assert np.allclose(acts["norm"], acts["permute"], atol=1e-5)  # the same maps, permuted


def test_channels_last_inside_a_sequential_is_found_from_its_permutes():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), Permute([0, 2, 3, 1]), nn.LayerNorm(4),
                          nn.Linear(4, 5), Permute([0, 3, 1, 2]), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(5, 2))
    assert [layer_layout(model, str(i)).four_d for i in range(6)] == [
        "nchw", "nhwc", "nhwc", "nhwc", "nchw", "nchw"]
    acts = record_activations(model.eval(), [torch.rand(2, 3, 6, 8)], ["3", "4"])
    assert acts["3"].shape == acts["4"].shape == (2, 5)
    assert np.allclose(acts["3"], acts["4"], atol=1e-6)


def test_unsupported_outputs_name_the_layer_shape_and_supported_shapes(vit):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(2), nn.Linear(36, 2))
    with pytest.raises(LayoutError) as err:
        record_activations(model, [torch.rand(1, 3, 6, 6)], ["1"])
    text = str(err.value)
    assert "layer 1 of Sequential" in text and "(1, 4, 36)" in text
    assert SUPPORTED_SHAPES in text
    assert SUPPORTED_SHAPES == ("(n, c) linear, (n, c, h, w) conv, (n, tokens, d) ViT tokens, "
                                "(n, h, w, c) Swin")
    with pytest.raises(LayoutError, match=r"cannot reduce the output of layer x .*shape "
                                          r"\(2, 3, 4, 5, 6\)"):
        LayerLayout("x").values(torch.zeros(2, 3, 4, 5, 6))
    # a ViT's attention returns a tuple (output, weights)
    with pytest.raises(LayoutError, match="self_attention of torchvision VisionTransformer "
                                          "returns a tuple, not a tensor"):
        layer_widths(vit, [f"{VIT_LAYER}.self_attention"], 224)
    with pytest.raises(ValueError, match="config key target.tokens: 'first'"):
        layer_widths(vit, [VIT_LAYER], 224, tokens="first")


def test_timm_vits_count_their_prefix_tokens():
    timm = pytest.importorskip("timm")
    from timm.models.vision_transformer import VisionTransformer

    def tiny(**kwargs):
        torch.manual_seed(0)
        return VisionTransformer(img_size=32, patch_size=8, embed_dim=16, depth=1, num_heads=2,
                                 num_classes=3, **kwargs).eval()

    x = torch.rand(2, 3, 32, 32)
    for kwargs, prefix, has_cls in [({}, 1, True), ({"reg_tokens": 3}, 4, True),
                                    ({"class_token": False, "reg_tokens": 2,
                                      "global_pool": "avg"}, 2, False)]:
        model = tiny(**kwargs)
        layout = layer_layout(model, "blocks.0")
        assert (layout.prefix_tokens, layout.class_token, layout.grid) == (prefix, has_cls,
                                                                           (4, 4))
        tokens: dict[str, torch.Tensor] = {}
        model.blocks[0].register_forward_hook(
            lambda m, i, o, seen=tokens: seen.setdefault("x", o))
        acts = record_activations(model, [x], ["blocks.0"], tokens="mean")["blocks.0"]
        assert np.allclose(acts, tokens["x"][:, prefix:].mean(1).numpy(), atol=1e-6)
        assert layout.maps(tokens["x"]).shape == (2, 16, 4, 4)
        # before the prefix tokens are added, the patch embedding has none
        assert layer_layout(model, "patch_embed").prefix_tokens == 0
        if not has_cls:
            with pytest.raises(LayoutError, match="'cls' takes the class token"):
                record_activations(model, [x], ["blocks.0"], tokens="cls")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    assert model.num_prefix_tokens == 1
    assert layer_layout(model, "blocks.11").prefix_tokens == 1
    from timm.models.swin_transformer import SwinTransformer

    swin = SwinTransformer(img_size=32, patch_size=4, window_size=4, embed_dim=8,
                           depths=(1, 1), num_heads=(1, 1), num_classes=3).eval()
    assert [layer_layout(swin, n).four_d for n in ("patch_embed.proj", "patch_embed",
                                                   "layers.1")] == ["nchw", "nhwc", "nhwc"]
    acts = record_activations(swin, [x], ["layers.1", "norm", "head"])
    assert {k: v.shape for k, v in acts.items()} == {"layers.1": (2, 16), "norm": (2, 16),
                                                     "head": (2, 3)}


def test_gradcam_of_token_layers_uses_their_patch_grid(vit, swin):
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():  # torchvision initialises the ViT head to zeros: no gradient
        vit.heads.head.weight.normal_(0, 0.02)
    try:
        # the last block feeds the class token only; the block before it does not
        full, low = gradcam_maps(vit, vit.encoder.layers[-2], x)
        assert full.shape == (2, 224, 224) and low.shape == (2, 14, 14)
        assert np.isclose(low.max(), 1.0)
        _, last = gradcam_maps(vit, vit.encoder.layers[-1], x)
        assert last.shape == (2, 14, 14) and not last.any()
    finally:
        with torch.no_grad():
            vit.heads.head.weight.zero_()
    full, low = gradcam_maps(swin, swin.features[7], x)
    assert full.shape == (2, 224, 224) and low.shape == (2, 7, 7)
    assert np.allclose(low.reshape(2, -1).max(1), 1.0)
    with pytest.raises(LayoutError, match="Grad-CAM needs a layer with spatial extent"):
        gradcam_maps(swin, swin.head, x)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """8 small PNGs of different sizes."""
    root = tmp_path_factory.mktemp("vit_images")
    rng = np.random.default_rng(0)
    for i in range(8):
        pixels = rng.integers(0, 255, (40 + 4 * i, 56, 3), dtype=np.uint8)
        pixels[: 10 + 2 * i, :, i % 3] = 255
        Image.fromarray(pixels).save(root / f"img{i}.png")
    return root


def test_describe_a_random_weight_vit(folder, tmp_path, capsys):
    out = tmp_path / "vit.csv"
    assert main(["describe", str(folder), "--concepts", "world", "--target", "vit_b_16",
                 "--weights", "none", "--layer", VIT_LAYER, "--gradcam-layer", VIT_LAYER,
                 "--method", "gradcam_tvmf", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    table = pd.read_csv(out)
    assert list(table["layer"]) == [VIT_LAYER] * 768 and list(table["unit"]) == list(range(768))
    assert table["concept"].notna().all()
    assert f"{VIT_LAYER} (768 units)" in printed.err
    # random weights: the head is zeros, the Grad-CAM is zero and its windows are centred
    assert "warning: the Grad-CAM at layer encoder.layers.encoder_layer_11 is zero" in printed.err


def test_describe_names_the_tokens_option(folder):
    with pytest.raises(SystemExit, match=r"conceptlens describe: .*--tokens: 'cls' takes the "
                                         r"class token, but layer features.7 of torchvision "
                                         r"SwinTransformer"):
        main(["describe", str(folder), "--concepts", "world", "--target", "swin_t",
              "--weights", "none", "--layer", "features.7", "--tokens", "cls"])
