"""Each neuron's activation map on its top images (conceptlens/neuron_maps.py, its stage
and files): the explorer's overlays."""

from __future__ import annotations

import runpy
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import models

from conceptlens.io.activations import save_activations
from conceptlens.io.neuron_maps import load_neuron_maps, save_neuron_maps
from conceptlens.io.probe import write_probe_index
from conceptlens.neuron_maps import neuron_activation_maps, spatial_shapes
from conceptlens.probes import probe_index
from conceptlens.stages.neuron_maps import neuron_maps
from conceptlens.stages.target_pass import TargetPassSettings, target_pass
from conceptlens.topk import topk_images
from tests.conftest import REPO

RESNET = {"source": "torchvision", "name": "resnet18", "weights": None, "input_size": 224}


def red_detector() -> nn.Module:
    """Channel 0 of layer ``0`` is the input's red channel, channel 1 minus its green one
    (1x1 convolution); then a linear head."""
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = 1.0
        conv.weight[1, 1] = -1.0
    return nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3)).eval()


def test_the_map_of_a_known_channel():
    x = torch.zeros(3, 3, 8, 8)
    x[0, 0, 2:4, 5:7] = 1.0  # a red square
    x[1, 1, 6:, :] = 2.0      # a green band
    x[2, 0] = torch.arange(64.0).reshape(8, 8)
    maps = neuron_activation_maps(red_detector(), "0", x, np.array([0, 1, 0]))
    assert maps.dtype == np.float32 and maps.shape == (3, 8, 8)
    assert np.array_equal(maps[0], x[0, 0].numpy())
    assert np.array_equal(maps[1], -x[1, 1].numpy())
    assert np.array_equal(maps[2], x[2, 0].numpy())
    assert neuron_activation_maps(red_detector(), "3", x, np.zeros(3, int)) is None
    with pytest.raises(ValueError, match="outside layer 0's 2 channels"):
        neuron_activation_maps(red_detector(), "0", x, np.array([0, 2, 0]))


def test_resnet_and_vit_maps_at_their_layer_resolution():
    torch.manual_seed(0)
    resnet = models.resnet18(weights=None).eval()
    assert spatial_shapes(resnet, ["layer4", "layer3.1", "fc"], 224) == {
        "layer4": (512, 7, 7), "layer3.1": (256, 14, 14), "fc": None}
    x = torch.rand(2, 3, 224, 224)
    maps = neuron_activation_maps(resnet, "layer4", x, np.array([3, 500]))
    assert maps.shape == (2, 7, 7)
    with torch.no_grad():
        seen = {}
        resnet.layer4.register_forward_hook(lambda m, i, o: seen.setdefault("x", o))
        resnet(x)
    assert np.allclose(maps[1], seen["x"][1, 500].numpy())
    vit = models.vit_b_16(weights=None).eval()
    maps = neuron_activation_maps(vit, "encoder.layers.encoder_layer_11", x, np.array([0, 767]))
    assert maps.shape == (2, 14, 14)
    assert neuron_activation_maps(vit, "heads", x, np.array([0, 1])) is None


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """10 images of different sizes in a folder probe set (its index in ``split``)."""
    root = tmp_path_factory.mktemp("maps")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(1)
    for i in range(10):
        pixels = rng.integers(0, 255, (60 + 7 * i, 80, 3), dtype=np.uint8)
        pixels[:, : 8 * i, i % 3] = 255
        Image.fromarray(pixels).save(images / f"{i}.png")
    split = root / "split"
    attributes = probe_index({"source": "folder", "path": str(images)})
    write_probe_index(split, attributes)
    return split, attributes


def full_view_activations(split, attributes, spec, loaded, layers, tmp_path, tokens="mean"):
    settings = TargetPassSettings(layers={"full": layers}, batch_size=4, tokens=tokens)
    result = target_pass(split, attributes, spec, settings, "cpu", loaded=loaded)
    files = {}
    for layer in layers:
        files[layer] = tmp_path / "activations" / "full" / f"{layer}.npz"
        save_activations(files[layer], result.activations["full"][layer])
    return files


def test_stage_gathers_each_neurons_maps_on_its_top_images(probe, tmp_path):
    split, attributes = probe
    torch.manual_seed(0)
    loaded = (models.resnet18(weights=None).eval(), None)
    files = full_view_activations(split, attributes, RESNET, loaded, ["layer4", "fc"], tmp_path)
    result = neuron_maps(split, attributes, RESNET, ["layer4", "fc"], files, n_top=3,
                         batch_size=4, device="cpu", loaded=loaded)
    indices, maps = result["layer4"]
    assert indices.shape == (512, 3) and maps.shape == (512, 3, 7, 7)
    assert maps.dtype == np.float16
    fc_indices, fc_maps = result["fc"]
    assert fc_indices.shape == (1000, 3) and fc_maps is None
    acts = np.load(files["layer4"])["activations"].astype(np.float32)
    assert np.array_equal(indices, topk_images(acts, 3)[0])  # the pass' top-k order
    # each map's mean is the neuron's (spatial mean) activation on that image
    expected = np.take_along_axis(acts.T, indices, axis=1)
    assert np.allclose(maps.astype(np.float32).mean(axis=(2, 3)), expected, rtol=2e-2,
                       atol=2e-3)
    # n_top beyond the probe set is capped at its size
    capped = neuron_maps(split, attributes, RESNET, ["layer4"], files, n_top=50,
                         batch_size=8, device="cpu", loaded=loaded)["layer4"]
    assert capped[0].shape == (512, 10) and capped[1].shape == (512, 10, 7, 7)
    assert np.array_equal(capped[1][:, :3], maps)


def test_stage_maps_of_a_vit_layer_on_its_patch_grid(probe, tmp_path):
    timm = pytest.importorskip("timm")
    split, attributes = probe
    spec = {"source": "timm", "name": "vit_tiny_patch16_224", "weights": None,
            "input_size": 224}
    torch.manual_seed(0)
    loaded = (timm.create_model("vit_tiny_patch16_224", pretrained=False).eval(), None)
    files = full_view_activations(split, attributes, spec, loaded, ["blocks.11"], tmp_path)
    indices, maps = neuron_maps(split, attributes, spec, ["blocks.11"], files, n_top=2,
                                batch_size=4, device="cpu", loaded=loaded)["blocks.11"]
    assert indices.shape == (192, 2) and maps.shape == (192, 2, 14, 14)
    acts = np.load(files["blocks.11"])["activations"].astype(np.float32)
    expected = np.take_along_axis(acts.T, indices, axis=1)  # mean over the patch tokens
    assert np.allclose(maps.astype(np.float32).mean(axis=(2, 3)), expected, rtol=2e-2,
                       atol=2e-3)


def test_files_round_trip_without_torch(tmp_path):
    indices = np.arange(12).reshape(4, 3)
    maps = np.random.default_rng(0).random((4, 3, 7, 7)).astype(np.float32)
    save_neuron_maps(tmp_path / "layer4.npz", indices, maps)
    got_indices, got_maps = load_neuron_maps(tmp_path / "layer4.npz")
    assert got_indices.dtype == np.int64 and np.array_equal(got_indices, indices)
    assert np.allclose(got_maps, maps, atol=1e-3)
    save_neuron_maps(tmp_path / "fc.npz", indices, None)
    assert load_neuron_maps(tmp_path / "fc.npz")[1] is None
    with pytest.raises(ValueError, match=r"neuron maps \(4, 2, 7, 7\) do not fit indices"):
        save_neuron_maps(tmp_path / "bad.npz", indices, maps[:, :2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc.npz", "layer4.npz"]
    code = ("import sys, conceptlens.io.neuron_maps; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_rule_script_writes_one_file_per_layer(probe, tmp_path):
    split, attributes = probe
    rng = np.random.default_rng(2)
    acts = {"layer4": rng.random((10, 512)), "fc": rng.random((10, 1000))}
    paths = {}
    for layer, values in acts.items():
        paths[layer] = tmp_path / "activations" / "full" / f"{layer}.npz"
        save_activations(paths[layer], values)
    out = [str(tmp_path / "report" / "neuron_maps" / f"{layer}.npz") for layer in acts]
    smk = SimpleNamespace(
        input=SimpleNamespace(split=str(split), activations=[str(paths["fc"]),
                                                             str(paths["layer4"])],
                              checked=str(tmp_path / "checked")),
        output=SimpleNamespace(maps=out),
        params=SimpleNamespace(target=RESNET, layers=["layer4", "fc"], n_top=2, device="cpu",
                               settings={"batch_size": 4, "workers": 0,
                                         "precision": "float32", "tokens": "mean"}),
        log=[str(tmp_path / "neuron_maps.log")], threads=1, rule="neuron_maps")
    runpy.run_path(str(REPO / "scripts" / "neuron_maps.py"), init_globals={"snakemake": smk})
    indices, maps = load_neuron_maps(out[0])
    stored = acts["layer4"].astype(np.float16)  # as the activations file holds them
    assert np.array_equal(indices, topk_images(stored, 2)[0])
    assert maps.shape == (512, 2, 7, 7)
    assert load_neuron_maps(out[1])[1] is None
    assert "maps of the top 2 images" in (tmp_path / "neuron_maps.log").read_text()

