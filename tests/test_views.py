"""Views: centre crops, Grad-CAM windows (clamping, size, the maximum inside), cropping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conceptlens.models.target import build_world_target
from conceptlens.views import (
    boxes_around,
    center_boxes,
    crop_resize,
    full_boxes,
    gradcam_maps,
    map_peaks,
)


def test_center_and_full_boxes():
    assert center_boxes(2, 64, 64, 0.5).tolist() == [[16, 16, 48, 48]] * 2
    assert center_boxes(1, 256, 256, 0.875).tolist() == [[16, 16, 240, 240]]
    assert full_boxes(1, 64, 48).tolist() == [[0, 0, 64, 48]]
    with pytest.raises(ValueError, match="fraction"):
        center_boxes(1, 64, 64, 1.5)


@pytest.mark.parametrize(("peak", "expected"), [
    ((32, 32), [16, 16, 48, 48]),  # centred
    ((2, 3), [0, 0, 32, 32]),  # clamped at the top-left corner
    ((63, 60), [32, 32, 64, 64]),  # clamped at the bottom-right corner
    ((10, 50), [0, 32, 32, 64]),
])
def test_window_is_clamped_inside_the_image_and_keeps_its_size(peak, expected):
    box = boxes_around(np.array([peak]), 32, 64, 64)[0]
    assert box.tolist() == expected
    assert box[2] - box[0] == 32 and box[3] - box[1] == 32


def test_the_maximum_is_inside_its_window():
    rng = np.random.default_rng(0)
    maps = rng.random((50, 64, 64))
    peaks = map_peaks(maps)
    boxes = boxes_around(peaks, 24, 64, 64)
    for m, (x0, y0, x1, y1) in zip(maps, boxes):
        y, x = np.unravel_index(m.argmax(), m.shape)
        assert x0 <= x < x1 and y0 <= y < y1
        assert x1 - x0 == 24 and 0 <= x0 and x1 <= 64 and y1 <= 64


def test_empty_map_points_at_the_centre():
    assert map_peaks(np.zeros((1, 4, 4))).tolist() == [[1.5, 1.5]]


def test_crop_resize_takes_the_box_content():
    img = torch.zeros(1, 3, 64, 64)
    img[:, :, 16:48, 16:48] = 1.0  # a bright square exactly in the centre crop
    crops = crop_resize(img, center_boxes(1, 64, 64, 0.5), 64)
    assert crops.shape == (1, 3, 64, 64)
    assert crops.min() > 0.99
    corner = crop_resize(img, np.array([[0, 0, 16, 16]]), 32)
    assert corner.max() < 0.01


def test_gradcam_maps_shapes_and_range():
    torch.manual_seed(0)
    model = build_world_target(10).eval()
    x = torch.randn(3, 3, 64, 64)
    full, low = gradcam_maps(model, model.layer4[-1], x)
    assert full.shape == (3, 64, 64) and low.shape == (3, 4, 4)
    assert full.min() >= 0 and full.max() <= 1 + 1e-6
    assert np.allclose(low.reshape(3, -1).max(axis=1)[low.reshape(3, -1).max(axis=1) > 0], 1.0)
    full_label, _ = gradcam_maps(model, model.layer4[-1], x, labels=np.array([1, 2, 3]))
    assert full_label.shape == (3, 64, 64)


def _plain_gradcam(model, layer, x, labels=None):
    """pytorch-grad-cam's own GradCAM (the backward through the whole model)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = None if labels is None else [ClassifierOutputTarget(int(c)) for c in labels]
    with GradCAM(model=model, target_layers=[layer]) as cam:
        return cam(input_tensor=x, targets=targets)


@pytest.mark.parametrize("layer_name", ["layer4", "layer3.1.conv1"])
def test_gradcam_from_the_layer_matches_the_full_backward(layer_name):
    # layer3.1.conv1 is followed by an in-place ReLU, which a leaf output would not allow
    torch.manual_seed(1)
    model = build_world_target(10).eval()
    layer = dict(model.named_modules())[layer_name]
    x = torch.randn(4, 3, 64, 64)
    labels = np.array([0, 3, 3, 9])
    for wanted in (None, labels):
        full, _ = gradcam_maps(model, layer, x, wanted)
        np.testing.assert_allclose(full, _plain_gradcam(model, layer, x, wanted), atol=1e-5)
    assert all(p.requires_grad for p in model.parameters())  # flags restored


def test_backward_from_records_nothing_below_the_layer():
    from conceptlens.views import backward_from

    model = build_world_target(10).eval()
    model.layer1[0].conv1.weight.requires_grad_(False)  # a frozen weight stays frozen
    with backward_from(model, model.layer4):
        out = model(torch.randn(2, 3, 64, 64))
        assert not any(p.requires_grad for p in model.parameters())
        out[:, 0].sum().backward()
    assert all(p.grad is None for p in model.parameters())
    assert not model.layer1[0].conv1.weight.requires_grad
    assert model.layer1[0].conv2.weight.requires_grad
    assert not model.layer4._forward_hooks  # the hook is removed


def test_view_loader_streams_crops_from_files(tmp_path):
    from conceptlens.io.probe import load_split_images
    from conceptlens.views import view_loader
    from conceptlens.world.generate import SplitSpec, write_split

    split = write_split(SplitSpec(seed=3, n_images=6), tmp_path / "probe")
    files = sorted((split / "images").glob("*.png"))
    boxes = center_boxes(6, 64, 64, 0.75)
    loaded = torch.cat(list(view_loader(files, boxes, 64, batch_size=4, workers=0)))
    assert loaded.shape == (6, 3, 64, 64) and 0 <= loaded.min() and loaded.max() <= 1
    images = load_split_images(split)
    in_memory = crop_resize(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, boxes, 64)
    assert (loaded - in_memory).abs().mean() < 0.03  # PIL and torch bilinear agree closely
    subset = torch.cat(list(view_loader(files, full_boxes(6, 64, 64), 64, 2, 0, np.array([4, 1]))))
    assert torch.allclose(subset[0], torch.from_numpy(images[4]).permute(2, 0, 1).float() / 255)


def test_the_gradcam_pass_records_the_full_views_activations(tmp_path):
    """Activations recorded from the Grad-CAM's forward pass (with gradients, the backward
    starting at layer4) equal a plain no-grad pass over the full view, and the boxes stay."""
    from conceptlens.activations import record_activations
    from conceptlens.models.zoo import Preprocess
    from conceptlens.views import gradcam_boxes, view_loader
    from conceptlens.world.generate import SplitSpec, write_split

    torch.manual_seed(0)
    model = build_world_target(10).eval()
    split = write_split(SplitSpec(seed=5, n_images=7), tmp_path / "probe")
    files = sorted((split / "images").glob("*.png"))
    sizes = np.tile([64, 64], (7, 1))
    preprocess = Preprocess(64)
    layers = ["layer2", "layer4", "fc"]  # below, at and above the Grad-CAM layer
    widths = {"layer2": 128, "layer4": 512, "fc": 10}
    record = {name: np.zeros((7, widths[name]), np.float32) for name in layers}
    boxes, peaks, _ = gradcam_boxes(model, model.layer4, preprocess, files, sizes, 0.5, 3, 0,
                                    torch.device("cpu"), record=record)
    plain_boxes, plain_peaks, _ = gradcam_boxes(model, model.layer4, preprocess, files, sizes,
                                                0.5, 3, 0, torch.device("cpu"))
    loader = view_loader(files, full_boxes(7, 64, 64), 64, 3, 0)
    expected = record_activations(model, (preprocess.normalize(x) for x in loader), layers)
    for name in layers:
        np.testing.assert_allclose(record[name], expected[name], rtol=1e-5, atol=1e-5)
        assert np.abs(record[name]).max() > 0
    np.testing.assert_array_equal(boxes, plain_boxes)
    np.testing.assert_allclose(peaks, plain_peaks)
    assert not any(module._forward_hooks for module in model.modules())  # hooks removed


def test_the_centroid_peak_of_a_coarse_map_lies_between_its_cells():
    from conceptlens.views import map_centroids, map_peaks

    maps = np.zeros((2, 8, 8))
    maps[0, 2, 2] = maps[0, 2, 3] = 1.0  # two equal cells: the centroid is between them
    maps[0, 6, 6] = 0.2  # below half the maximum: ignored
    assert map_centroids(maps)[0].tolist() == [2.5, 2.0]
    assert map_peaks(maps)[0].tolist() == [2.0, 2.0]  # the maximum: the first cell
    assert map_centroids(maps)[1].tolist() == [3.5, 3.5]  # no signal: the centre
