"""The method-family registry: the built-in families, their settings, and a family from
outside the package that plugs into the workflow and the describe stage unchanged."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from conceptlens import methods
from conceptlens.config import ConfigError
from conceptlens.methods import LayerInputs
from conceptlens.stages.describe import describe_layer
from tests.conftest import dry_run_jobs, run_snakemake


def test_builtin_families_declare_their_defaults_and_files():
    settings = methods.method_settings({"methods": {
        "w": {"family": "www", "view": "center", "template": "photo", "similarity": "cosine"},
        "s": {"family": "clip_dissect", "view": "full", "template": "bare",
              "function": "soft_wpmi"},
        "c": {"family": "clip_dissect", "view": "full", "template": "bare", "function": "cos"}}})
    assert settings["w"] == {"clip_model": "world", "k": 40, "alpha": 0.95, "kappa": 1.0,
                             "family": "www", "view": "center", "template": "photo",
                             "similarity": "cosine"}
    assert settings["s"]["top_k"] == 100 and "top_k" not in settings["c"]
    assert [methods.image_set(settings[n]) for n in "wsc"] == ["center.topk", "full.all",
                                                               "full.all"]
    assert [methods.reads(settings[n]) for n in "wsc"] == ["topk", "activations", "activations"]
    assert [methods.topk_size(settings[n]) for n in "wsc"] == [40, 0, 0]
    assert methods.option_key("kappa", settings["w"]) is None  # cosine has no kappa
    assert methods.option_key("k", settings["s"]) == "top_k"
    assert methods.option_key("k", settings["c"]) is None


@pytest.mark.parametrize(("entry", "needle"), [
    ({"family": "nope", "view": "full", "template": "bare"},
     r"methods\.m\.family: 'nope' is not a method family \(valid: www, clip_dissect"),
    ({"family": "www", "view": "full", "template": "bare", "similarity": "cosine",
      "function": "cos"}, r"methods\.m: function not valid for family 'www'"),
    ({"family": "clip_dissect", "view": "full", "template": "bare"},
     r"methods\.m\.function is required for family 'clip_dissect'"),
])
def test_bad_method_entries_name_the_key(entry, needle):
    with pytest.raises(ConfigError, match=needle):
        methods.method_settings({"methods": {"m": entry}})


def _layer_inputs(n_images=30, n_neurons=4, n_concepts=5, seed=0):
    """Neuron j fires on the images most similar to concept j (j < n_concepts)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.nn.functional.normalize(torch.randn(n_images, 8, generator=gen), dim=1)
    texts = torch.nn.functional.normalize(torch.randn(n_concepts, 8, generator=gen), dim=1)
    acts = (images @ texts.T)[:, :n_neurons].clamp_min(0).numpy()
    return LayerInputs(np.arange(n_images), images, texts, torch.zeros(8), activations=acts)


def test_a_family_from_outside_plugs_into_the_describe_stage():
    from tests.dummy_family import DUMMY

    assert methods.FAMILIES["correlation"] is DUMMY
    settings = methods.method_settings({"methods": {"m": {
        "family": "correlation", "view": "full", "template": "bare", "scale": 2.0}}})["m"]
    assert methods.image_set(settings) == "full.all" and methods.topk_size(settings) == 0
    concepts = [f"c{i}" for i in range(5)]
    table, result = describe_layer(settings, "fc", concepts, _layer_inputs())
    assert list(table["concept"]) == ["c0", "c1", "c2", "c3"]
    assert result.scores.shape == (4, 5)
    units = np.array([1, 3])
    subset, _ = describe_layer(settings, "fc", concepts, _layer_inputs(), units)
    assert list(subset["unit"]) == [1, 3] and list(subset["concept"]) == ["c1", "c3"]


def test_a_family_from_outside_plugs_into_the_workflow_without_touching_its_rules(tmp_path):
    """CONCEPTLENS_FAMILIES names the module; the workflow plans the family's files."""
    import yaml

    overlay = {"base": "configs/tiny-world.yaml", "run": "plugin-family", "methods": {
        "www": {"family": "www", "view": "center", "similarity": "cosine", "template": "photo"},
        "corr": {"family": "correlation", "view": "full", "template": "bare"}},
        "ablation": {}, "report": {"method": "www", "grid_methods": {"WWW": "www"}}}
    config = tmp_path / "overlay.yaml"
    config.write_text(yaml.safe_dump(overlay))
    env = {**os.environ, methods.PLUGINS_VARIABLE: "tests.dummy_family"}
    done = run_snakemake("results/plugin-family/descriptions/world/corr/fc.parquet", "-n",
                         "--cores", "1", "--configfile", str(config), env=env)
    jobs = dry_run_jobs(done.stdout)
    assert jobs["describe"] == 1 and jobs["clip_image_embeddings"] == 1
    assert "results/plugin-family/activations/full/fc.npz" in done.stdout
    without = run_snakemake("-n", "--cores", "1", "--configfile", str(config), check=False,
                            env={k: v for k, v in os.environ.items()
                                 if k != methods.PLUGINS_VARIABLE})
    assert without.returncode != 0
    assert "methods.corr.family: 'correlation' is not a method family" in (
        without.stdout + without.stderr)


def test_image_counts_larger_than_the_probe_set_are_fitted_with_a_note():
    settings = methods.method_settings({"methods": {
        "www": {"family": "www", "view": "center", "similarity": "cosine", "template": "t"},
        "soft": {"family": "clip_dissect", "view": "full", "function": "soft_wpmi",
                 "template": "t"},
        "rr": {"family": "clip_dissect", "view": "full", "function": "rank_reorder",
               "template": "t"},
        "cos": {"family": "clip_dissect", "view": "full", "function": "cos", "template": "t"},
    }})
    fitted, notes = methods.fit_to_probe(settings, 30)
    assert (fitted["www"]["k"], fitted["soft"]["top_k"]) == (30, 30)
    assert int(30 * fitted["rr"]["top_fraction"]) == 2
    assert fitted["cos"] == settings["cos"]
    assert notes == [
        "methods.www.k = 40 is more than the 30 probe images: lowered to 30",
        "methods.soft.top_k = 100 is more than the 30 probe images: lowered to 30",
        "methods.rr.top_fraction = 0.05 keeps fewer than 2 of the 30 probe images: "
        "raised to 0.06667"]
    assert methods.fit_to_probe(settings, 5000) == (settings, [])
