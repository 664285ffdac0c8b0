"""Real models and data by spec: torchvision / timm / checkpoint targets, probe-set indexes,
the up-front requirements check, per-image views, and autocast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conceptlens.config import ConfigError, load_config
from conceptlens.ground_truth import output_layer_name, synonym_ground_truth
from conceptlens.models.zoo import (
    TargetSpecError,
    build_architecture,
    check_layers,
    load_target,
    torchvision_weights,
)
from conceptlens.offline import MissingRequirementsError, missing_requirements
from conceptlens.probes import ProbeSetError, probe_index
from conceptlens.views import boxes_around, peaks_in_image, square_boxes
from tests.conftest import REPO


def test_torchvision_weights_by_enum_name():
    assert torchvision_weights("resnet50", "IMAGENET1K_V2").name == "IMAGENET1K_V2"
    assert torchvision_weights("resnet50", "DEFAULT").name == "IMAGENET1K_V2"
    assert torchvision_weights("resnet50", None) is None
    with pytest.raises(TargetSpecError, match="IMAGENET1K_V1, IMAGENET1K_V2"):
        torchvision_weights("resnet50", "IMAGENET21K")
    with pytest.raises(TargetSpecError, match="target.name: 'resnet51'"):
        torchvision_weights("resnet51", None)


def test_layers_are_validated_with_the_valid_names_listed():
    model = build_architecture({"source": "torchvision", "name": "resnet50"})
    check_layers(model, ["layer4", "fc", "layer3.5"])
    with pytest.raises(TargetSpecError, match=r"'layer5'.*valid top-level names: conv1, bn1"):
        check_layers(model, ["layer5"])
    assert output_layer_name(model) == "fc"


def test_timm_architecture_by_name():
    model = build_architecture({"source": "timm", "name": "resnet18"}, num_classes=7)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 7)
    with pytest.raises(TargetSpecError, match="not a timm model"):
        build_architecture({"source": "timm", "name": "no_such_net"})


def test_local_checkpoint_loads_into_its_architecture(tmp_path):
    torch.manual_seed(0)
    model = build_architecture({"source": "torchvision", "name": "resnet18"}, num_classes=5)
    path = tmp_path / "finetuned.pt"
    torch.save({"state_dict": model.state_dict(), "classes": list("abcde")}, path)
    loaded, classes = load_target({"source": "checkpoint", "name": "resnet18", "path": str(path)})
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(loaded(x), model.eval()(x), atol=1e-5)
    assert classes == list("abcde")
    with pytest.raises(TargetSpecError, match="does not fit architecture 'resnet50'"):
        load_target({"source": "checkpoint", "name": "resnet50", "path": str(path)})
    with pytest.raises(FileNotFoundError, match="target.path"):
        load_target({"source": "checkpoint", "name": "resnet18", "path": str(tmp_path / "no.pt")})


def test_hub_weights_offline_name_the_key_for_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingRequirementsError, match=r"resnet50 IMAGENET1K_V1.*target.source: "
                                                       r"checkpoint and target.path"):
        load_target({"source": "torchvision", "name": "resnet50", "weights": "IMAGENET1K_V1"})


def test_random_weight_real_architecture_loads_offline():
    model, classes = load_target({"source": "torchvision", "name": "resnet18", "weights": None})
    assert classes is None and not model.training


def _save(path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 10, 10)).save(path)


def test_imagenet_folder_of_wnids_gets_sorted_class_indices(tmp_path):
    for wnid, n in (("n01443537", 2), ("n01440764", 1)):
        for i in range(n):
            _save(tmp_path / wnid / f"img{i}.JPEG", (50 + i, 40))
    table = probe_index({"source": "imagenet", "path": str(tmp_path)})
    assert list(table["label"]) == [0, 1, 1]  # n01440764 sorts first
    assert list(table["width"]) == [50, 50, 51] and set(table["height"]) == {40}
    assert all(f.startswith("/") for f in table["file"])
    assert len(probe_index({"source": "imagenet", "path": str(tmp_path), "limit": 2})) == 2


def test_flat_imagenet_folder_with_loc_val_solution(tmp_path):
    val = tmp_path / "val"
    for i in (1, 2, 3):
        _save(val / f"ILSVRC2012_val_{i:08d}.JPEG")
    labels = tmp_path / "LOC_val_solution.csv"
    pd.DataFrame({"ImageId": [f"ILSVRC2012_val_{i:08d}" for i in (1, 2, 3)],
                  "PredictionString": ["n09999999 1 2 3 4", "n01440764 1 2 3 4 n01440764 5 6 7 8",
                                       "n01443537 0 0 9 9"]}).to_csv(labels, index=False)
    table = probe_index({"source": "imagenet", "path": str(val), "labels": str(labels)})
    assert list(table["label"]) == [2, 0, 1]  # index into the sorted wnids of the file
    with pytest.raises(ProbeSetError, match="probe.labels"):
        probe_index({"source": "imagenet", "path": str(val)})
    _save(val / "ILSVRC2012_val_00000009.JPEG")
    with pytest.raises(ProbeSetError, match="no label for 1 image"):
        probe_index({"source": "imagenet", "path": str(val), "labels": str(labels)})


def test_broden_index_and_plain_folders(tmp_path):
    broden = tmp_path / "broden1_224"
    for name in ("ade20k/a.jpg", "pascal/b.jpg", "opensurfaces/c.jpg"):
        _save(broden / "images" / name, (224, 224))
    pd.DataFrame({"image": ["pascal/b.jpg", "ade20k/a.jpg"], "split": ["train", "val"]}).to_csv(
        broden / "index.csv", index=False)
    table = probe_index({"source": "broden", "path": str(broden)})
    assert [f.split("images/")[1] for f in table["file"]] == ["pascal/b.jpg", "ade20k/a.jpg"]
    assert (table["label"] == -1).all()
    folder = probe_index({"source": "folder", "path": str(broden / "images")})
    assert len(folder) == 3
    with pytest.raises(ProbeSetError, match="probe.path: folder"):
        probe_index({"source": "folder", "path": str(tmp_path / "nowhere")})


def test_views_of_images_of_different_sizes():
    sizes = np.array([[64, 64], [100, 60], [60, 100]])
    assert square_boxes(sizes, 1.0).tolist() == [[0, 0, 64, 64], [20, 0, 80, 60],
                                                 [0, 20, 60, 80]]
    assert square_boxes(sizes, 0.5).tolist() == [[16, 16, 48, 48], [35, 15, 65, 45],
                                                 [15, 35, 45, 65]]
    # the centre pixel of a 10-px input that showed a 60-px square starting at x=20
    peaks = peaks_in_image(np.array([[4.5, 4.5]]), np.array([[20, 0, 80, 60]]), 10)
    assert np.allclose(peaks, [[49.5, 29.5]])
    boxes = boxes_around(np.array([[99.0, 0.0], [0.0, 99.0]]), np.array([30, 20]),
                         np.array([100, 60]), np.array([60, 100]))
    assert boxes.tolist() == [[70, 0, 100, 30], [0, 80, 20, 100]]


def test_class_ground_truth_of_a_real_classifier_uses_the_synonyms():
    acts = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 2.0], [1.0, 3.0]])
    table = synonym_ground_truth("fc", [["tench", "Tinca tinca"], ["goldfish"]], acts,
                                 np.array([0, 0, 1, -1]))
    assert list(table["concept"]) == ["tench", "goldfish"]
    assert table["synonyms"].tolist() == ["tench|Tinca tinca", "goldfish"]
    assert table["auroc"].tolist() == [1.0, 1.0]


def test_the_default_config_needs_nothing_from_outside():
    assert missing_requirements(load_config(REPO / "config.yaml")) == []


def test_config_errors_name_the_target_keys(tmp_path):
    def config_with(**overrides):
        path = tmp_path / "c.yaml"
        import yaml

        path.write_text(yaml.safe_dump({"base": "config.yaml", **overrides}))
        return load_config(path)

    with pytest.raises(ConfigError, match="the world probe set goes with the world target"):
        config_with(target={"source": "torchvision", "name": "resnet18"})
    with pytest.raises(ConfigError, match="layers: unknown layer.*'layer5'.*resnet18"):
        config_with(target={"source": "torchvision", "name": "resnet18"},
                    probe={"source": "folder", "path": str(tmp_path)}, layers=["layer5"])
    with pytest.raises(ConfigError, match="target.weights: 'V3'"):
        config_with(target={"source": "torchvision", "name": "resnet18", "weights": "V3"},
                    probe={"source": "folder", "path": str(tmp_path)})
    with pytest.raises(ConfigError, match="probe.path is required"):
        config_with(target={"source": "torchvision", "name": "resnet18"},
                    probe={"source": "broden"})


def test_probe_state_follows_the_folder_content(tmp_path):
    import os

    from conceptlens.probes import probe_state

    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.jpg", "notes.txt"):
        (folder / name).write_bytes(b"x" * 10)
    count, first = probe_state({"source": "folder", "path": str(folder)})
    assert count == 2  # the text file is no image
    assert probe_state({"source": "folder", "path": str(folder), "limit": 1})[0] == 1
    (folder / "c.png").write_bytes(b"y")  # an added image
    added = probe_state({"source": "folder", "path": str(folder)})
    assert added[0] == 3 and added[1] != first
    (folder / "c.png").write_bytes(b"yy")  # replaced: another size
    assert probe_state({"source": "folder", "path": str(folder)})[1] != added[1]
    os.utime(folder / "a.png", ns=(1, 1))  # touched: another modification time
    assert probe_state({"source": "folder", "path": str(folder)})[1] not in (first, added[1])
    assert probe_state({"source": "folder", "path": str(tmp_path / "missing")}) is None
