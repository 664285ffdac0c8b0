"""Localisation scores and baseline maps on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from conceptlens.localisation import (
    box_masks,
    centre_bias_maps,
    energy_share,
    localisation_table,
    pointing_hit,
    select_images,
    upsample_maps,
)


def test_box_masks_have_exclusive_ends():
    m = box_masks(np.array([[1, 2, 3, 4]]), height=5, width=4)[0]
    assert m.sum() == 4
    assert m[2, 1] and m[3, 2] and not m[4, 1] and not m[2, 3] and not m[1, 1]
    with pytest.raises(ValueError, match=r"box 0 \[2, 0, 2, 3\] is empty"):
        box_masks(np.array([[2, 0, 2, 3]]), 4, 4)
    with pytest.raises(ValueError, match="outside the 4 x 4 image"):
        box_masks(np.array([[0, 0, 5, 3]]), 4, 4)


def test_pointing_with_a_unique_maximum():
    maps = np.zeros((2, 6, 6))
    maps[0, 4, 1] = 1.0  # x = 1, y = 4
    maps[1, 1, 4] = 1.0
    boxes = np.array([[0, 3, 3, 6], [0, 3, 3, 6]])
    assert pointing_hit(maps, boxes).tolist() == [True, False]


def test_pointing_ties_count_by_majority():
    maps = np.zeros((3, 4, 4))
    maps[0, 0, 0:3] = 1.0  # plateau of 3 pixels, 2 inside the box
    maps[1, 0, 1:4] = 1.0  # 1 of 3 inside
    maps[2] = 0.3  # flat: all 16 maximal, 4 inside
    boxes = np.array([[0, 0, 2, 2]] * 3)
    assert pointing_hit(maps, boxes).tolist() == [True, False, False]
    assert pointing_hit(maps[2:], np.array([[0, 0, 4, 2]])).tolist() == [True]  # half the image


def test_energy_share():
    maps = np.ones((3, 4, 4))
    maps[1, 0, 0] = 13.0  # total 28, inside [0:2, 0:2]: 16
    maps[2] = 0.0  # no signal: counts as uniform
    boxes = np.array([[0, 0, 2, 2]] * 3)
    assert np.allclose(energy_share(maps, boxes), [0.25, 16 / 28, 0.25])
    with pytest.raises(ValueError, match="non-negative"):
        energy_share(-maps, boxes)
    with pytest.raises(ValueError, match="3 maps but 1 boxes"):
        energy_share(maps, boxes[:1])


def test_centre_baseline_hits_centred_boxes_only():
    maps = centre_bias_maps(2, 64, 64)
    assert maps.shape == (2, 64, 64) and np.isclose(maps.max(), np.exp(-(0.5 ** 2 + 0.5 ** 2) / (2 * 16 ** 2)))
    centred = np.array([[24, 24, 40, 40]] * 2)
    off = np.array([[44, 2, 62, 20]] * 2)
    assert pointing_hit(maps, centred).all() and not pointing_hit(maps, off).any()
    assert (energy_share(maps, centred) > 3 * energy_share(maps, off)).all()


def test_upsample_maps_bilinear():
    low = np.array([[[0.0, 1.0], [0.0, 1.0]]], dtype=np.float16)
    up = upsample_maps(low, 4, 8)
    assert up.shape == (1, 4, 8) and up.dtype == np.float32
    assert np.allclose(up[0, :, 0], 0) and np.allclose(up[0, :, -1], 1)
    assert np.allclose(up[0, 0], up[0, 3]) and np.all(np.diff(up[0, 0]) >= 0)
    assert np.allclose(up[0, 0, 3] + up[0, 0, 4], 1)  # symmetric about the middle


def test_localisation_table():
    maps = np.zeros((4, 4, 4))
    maps[[0, 1], 0, 0] = 1.0  # hits for a box over the top-left quarter
    maps[[2, 3], 3, 3] = 1.0
    boxes = np.array([[0, 0, 2, 2]] * 4)
    table = localisation_table({("convis", "shape"): maps, ("centre", "shape"): np.ones((4, 4, 4))},
                               boxes)
    assert list(table.columns) == ["method", "attribute", "pointing", "pointing_se",
                                   "energy_share", "energy_share_se", "images"]
    row = table.iloc[0]
    assert (row.method, row.attribute, row.images) == ("convis", "shape", 4)
    assert row.pointing == 50.0 and np.isclose(row.pointing_se, 25.0)  # 100 sqrt(.25 / 4)
    assert row.energy_share == 0.5 and np.isclose(row.energy_share_se, np.std([1, 1, 0, 0], ddof=1) / 2)
    assert table.iloc[1].energy_share == 0.25 and table.iloc[1].energy_share_se == 0
    per_key = localisation_table({("convis", "color"): maps[:2]}, {("convis", "color"): boxes[:2]})
    assert per_key.iloc[0].pointing == 100.0 and per_key.iloc[0].images == 2


def test_select_images():
    a = select_images(2000, 100, 0)
    assert len(a) == 100 and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, select_images(2000, 100, 0))
    assert not np.array_equal(a, select_images(2000, 100, 1))
    assert select_images(5, 100, 0).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="positive"):
        select_images(5, 0, 0)
