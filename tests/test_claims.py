"""The seeds' claims: paired bootstrap intervals over neurons, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conceptlens.claims import claims_summary, claims_table, paired_bootstrap, verdict

ABLATION = {"none": "www", "tvmf": "center_tvmf", "gradcam": "gradcam_cos",
            "both": "gradcam_tvmf"}


def test_a_constant_difference_has_a_zero_width_interval():
    assert paired_bootstrap(np.full(30, 0.25)) == pytest.approx((0.25, 0.25, 0.25))


def test_the_interval_of_a_balanced_difference_holds_zero_and_narrows_with_neurons():
    small = paired_bootstrap(np.tile([1.0, -1.0], 10), seed=1)
    large = paired_bootstrap(np.tile([1.0, -1.0], 1000), seed=1)
    assert small[0] == 0 and small[1] < 0 < small[2]
    assert large[2] - large[1] < (small[2] - small[1]) / 5  # about 1/sqrt(100) as wide
    assert np.isnan(paired_bootstrap(np.zeros(0))[0])


def test_the_interval_covers_the_mean_of_a_known_distribution():
    rng = np.random.default_rng(0)
    covered = sum(lo <= 0.3 <= hi for lo, hi in
                  (paired_bootstrap(rng.normal(0.3, 1.0, 200), seed=s)[1:] for s in range(40)))
    assert covered >= 34  # 95% nominal; at least 85% of 40 draws


def test_verdicts():
    assert (verdict(0.01, 0.2), verdict(-0.2, -0.01), verdict(-0.1, 0.1)) == (
        "holds", "reversed", "unclear")
    assert verdict(float("nan"), 1.0) == "no data"


def _per_neuron(hits: dict[str, list[float]], layer: str = "layer4") -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"layer": layer, "unit": np.arange(len(h)), "hit": h,
                                    "f1": h, "method": m}) for m, h in hits.items()])


def test_claims_compare_the_ablation_roles_paired_by_unit():
    n = 40
    ones, zeros = [1.0] * n, [0.0] * n
    half = [1.0, 0.0] * (n // 2)
    table = claims_table({"small": _per_neuron(
        {"www": zeros, "center_tvmf": half, "gradcam_cos": zeros, "gradcam_tvmf": ones})},
        {"small": 10}, ABLATION, n_boot=500)
    row = table[(table["comparison"] == "Grad-CAM crop vs centre crop (with t-vMF)")
                & (table["metric"] == "hit")].iloc[0]
    assert (row["method"], row["baseline"], row["n_neurons"]) == ("gradcam_tvmf", "center_tvmf", n)
    assert row["difference"] == pytest.approx(0.5) and row["verdict"] == "holds"
    crop_cos = table[table["comparison"] == "Grad-CAM crop vs centre crop (with cosine)"]
    # identical methods: a zero-width interval at 0, which is no gain
    assert set(crop_cos["verdict"]) == {"unclear"} and (crop_cos["difference"] == 0).all()
    summary = claims_summary(table)
    assert set(summary["claim"]) == {"gradcam_crop", "tvmf", "combined"}


def test_the_gain_grows_with_the_concept_sets_size_paired_over_shared_neurons():
    n = 50
    small = _per_neuron({"www": [0.0] * n, "gradcam_tvmf": [0.0] * n})
    large = _per_neuron({"www": [0.0] * n, "gradcam_tvmf": [1.0] * (n - 10) + [0.0] * 10})
    table = claims_table({"small": small, "large": large}, {"small": 10, "large": 1000},
                         ABLATION, n_boot=500)
    growth = table[table["claim"] == "gain_grows_with_concepts"]
    assert set(growth["metric"]) == {"hit", "f1"}
    row = growth.iloc[0]
    assert row["concept_set"] == "large - small" and row["difference"] == pytest.approx(0.8)
    assert row["verdict"] == "holds"
