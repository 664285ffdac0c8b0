"""Top-k sets, embedding row lookup and the descriptions table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conceptlens.describe import descriptions_table
from conceptlens.embeddings import prompts, template_alone
from conceptlens.io.descriptions import to_csv_frame
from conceptlens.io.topk import load_topk, save_topk
from conceptlens.methods import rows_of, top1_selection
from conceptlens.topk import topk_images


def test_topk_best_first_with_stable_ties(tmp_path):
    acts = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 5.0], [3.0, 1.0]])
    idx, val = topk_images(acts, 2)
    assert idx.tolist() == [[1, 3], [2, 3]]  # neuron 0: tie 3.0 at images 1 and 3
    assert val.tolist() == [[3.0, 3.0], [5.0, 1.0]]
    save_topk(tmp_path / "t.npz", idx, val, idx[:, :1], val[:, :1])
    idx1, val1 = load_topk(tmp_path / "t.npz", 1)
    assert idx1.tolist() == [[1], [2]] and val1.tolist() == [[3.0], [5.0]]
    assert load_topk(tmp_path / "t.npz", half=True)[0].tolist() == [[1], [2]]
    with pytest.raises(ValueError, match="holds the top 2"):
        load_topk(tmp_path / "t.npz", 3)
    with pytest.raises(ValueError, match="k=5"):
        topk_images(acts, 5)


def test_rows_of_maps_image_ids_to_rows():
    ids = np.array([7, 2, 9])
    assert rows_of(ids, np.array([[9, 7], [2, 2]])).tolist() == [[2, 0], [1, 1]]
    with pytest.raises(ValueError, match="no embedding"):
        rows_of(ids, np.array([3]))


def test_prompts_and_template_alone():
    assert prompts(["star", "red"], "A photo of a {}") == ["A photo of a star", "A photo of a red"]
    assert template_alone("A photo of a {}") == "A photo of a"
    assert template_alone("{}") == ""


def test_descriptions_table_ranks_selected_concepts():
    scores = torch.tensor([[0.1, 0.9, 0.88, 0.2], [0.5, 0.1, 0.2, 0.3]])
    selected = torch.tensor([[False, True, True, False], [True, False, False, False]])
    table = descriptions_table("fc", scores, ["a", "b", "c", "d"], selected,
                               torch.tensor([False, True]))
    assert table["concept"].tolist() == ["b", "a"]
    assert table.loc[0, "concepts"] == ["b", "c"]
    assert table.loc[0, "scores"] == pytest.approx([0.9, 0.88])
    assert table.loc[1, "top5"] == ["a", "d", "c", "b"]
    assert table["weak"].tolist() == [False, True]
    csv = to_csv_frame(table)
    assert csv.loc[0, "concepts"] == "b|c" and csv.loc[0, "scores"] == "0.9000|0.8800"


def test_top1_selection():
    sel = top1_selection(torch.tensor([[0.1, 0.3], [0.9, 0.2]]))
    assert sel.tolist() == [[False, True], [True, False]]


def test_image_embedding_sets_round_trip_and_name_a_missing_set(tmp_path):
    from conceptlens.io.embeddings import (
        image_set_names,
        load_image_embeddings,
        save_image_embeddings,
    )

    path = tmp_path / "images.npz"
    emb = np.eye(3, 4, dtype=np.float32)
    save_image_embeddings(path, {"center.topk": (np.array([5, 2, 9]), emb),
                                 "full.all": (np.arange(2), emb[:2])})
    assert image_set_names(path) == ["center.topk", "full.all"]
    ids, back = load_image_embeddings(path, "center.topk")
    assert ids.tolist() == [5, 2, 9] and np.array_equal(back, emb)
    assert load_image_embeddings(path, "full.all")[1].shape == (2, 4)
    with pytest.raises(KeyError, match=r"images\.npz has no image set 'gradcam\.topk' \(it has "
                                       r"center\.topk, full\.all\)"):
        load_image_embeddings(path, "gradcam.topk")
    with pytest.raises(ValueError, match="image set x: 2 ids, 3 embeddings"):
        save_image_embeddings(tmp_path / "bad.npz", {"x": (np.arange(2), emb)})
    assert not (tmp_path / "bad.npz").exists()


def test_target_summary_round_trip(tmp_path):
    from conceptlens.io.activations import load_target_summary, save_target_summary

    path = tmp_path / "target.json"
    save_target_summary(path, ["star", "circle"], "fc", {"layer4": 512, "fc": 2})
    assert load_target_summary(path) == {"classes": ["star", "circle"], "output_layer": "fc",
                                         "widths": {"layer4": 512, "fc": 2}}
    save_target_summary(path, None, None, {})
    assert load_target_summary(path)["classes"] is None
    path.write_text('{"classes": null}')
    with pytest.raises(ValueError, match=r"target\.json: not a target summary, missing "
                                         r"\['output_layer', 'widths'\]"):
        load_target_summary(path)


def test_text_embeddings_of_several_templates_round_trip(tmp_path):
    from conceptlens.io.embeddings import (
        load_text_embeddings,
        save_text_embeddings,
        text_template_keys,
    )

    path = tmp_path / "world.npz"
    photo, bare = np.eye(2, 3, dtype=np.float32), np.ones((2, 3), dtype=np.float32)
    save_text_embeddings(path, ["star", "red"], {"photo": ("A photo of a {}", photo, np.ones(3)),
                                                 "bare": ("{}", bare, np.zeros(3))})
    assert text_template_keys(path) == ["photo", "bare"]
    concepts, emb, alone = load_text_embeddings(path, "photo")
    assert concepts == ["star", "red"] and np.array_equal(emb, photo)
    assert np.array_equal(alone, np.ones(3))
    assert np.array_equal(load_text_embeddings(path, "bare")[1], bare)
    with pytest.raises(KeyError, match=r"world\.npz has no embeddings with template 'cap' "
                                       r"\(it has photo, bare\)"):
        load_text_embeddings(path, "cap")
    with pytest.raises(ValueError, match="template x: 1 embeddings for 2 concepts"):
        save_text_embeddings(tmp_path / "bad.npz", ["a", "b"], {"x": ("{}", photo[:1], np.ones(3))})


def test_half_topk_sets_stay_in_the_selection_half():
    from conceptlens.evidence import selection_half
    from conceptlens.stages.target_pass import topk_sets

    acts = np.random.default_rng(0).normal(size=(31, 4))
    idx, val, half_idx, half_val = topk_sets(acts, 20)
    half = selection_half(31)
    assert half.sum() == 15 and idx.shape == (4, 20) and half_idx.shape == (4, 15)
    assert half[half_idx].all()  # every image of a half set is in the selection half
    # the best image of the half is the best of its images over the whole set
    assert np.allclose(half_val[:, 0], np.where(half[:, None], acts, -np.inf).max(0))


def test_topk_files_take_each_views_sets_from_its_saved_activations(tmp_path):
    """Rule topk's stage: each top-k file equals the sets of the same view and layer's
    activations (float16 as saved), with that view's k."""
    from conceptlens.io.activations import save_activations
    from conceptlens.stages.target_pass import topk_files, topk_sets

    rng = np.random.default_rng(1)
    acts = {view: rng.normal(size=(30, 5)).astype(np.float16) for view in ("full", "center")}
    sources = []
    for view, values in acts.items():
        sources.append(tmp_path / "activations" / view / "layer4.npz")
        sources[-1].parent.mkdir(parents=True)
        save_activations(sources[-1], values)
    outputs = [str(tmp_path / "topk" / view / "layer4.npz") for view in acts]
    topk_files([str(s) for s in sources], outputs, {"full": 3, "center": 7})
    for path, (view, k) in zip(outputs, [("full", 3), ("center", 7)]):
        indices, values = load_topk(path)
        expected = topk_sets(acts[view], k)
        assert indices.shape == (5, k)
        assert np.array_equal(indices, expected[0])
        assert np.array_equal(load_topk(path, half=True)[0], expected[2])
    with pytest.raises(ValueError, match="no activations of the gradcam view's layer4"):
        topk_files([str(s) for s in sources], [str(tmp_path / "topk/gradcam/layer4.npz")],
                   {"gradcam": 2})
