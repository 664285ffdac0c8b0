"""A method family that is not part of conceptlens, for tests/test_methods.py: each
neuron's concept is the one whose CLIP similarity correlates best with its activations over
the probe set (registered on import; named by CONCEPTLENS_FAMILIES for the workflow)."""

from __future__ import annotations

from conceptlens.methods import Family, LayerInputs, MethodScores, register_family, top1_selection


def correlation_score(settings, inputs: LayerInputs) -> MethodScores:
    import torch

    sims = inputs.image_emb @ inputs.text_emb.T  # (n_images, m)
    acts = torch.from_numpy(inputs.activations)  # (n_images, n)
    sims = (sims - sims.mean(0)) / sims.std(0).clamp_min(1e-6)
    acts = (acts - acts.mean(0)) / acts.std(0).clamp_min(1e-6)
    scores = settings["scale"] * (acts.T @ sims) / len(acts)  # (n, m)
    return MethodScores(scores, top1_selection(scores), None)


DUMMY = register_family(Family(
    name="correlation", description="activation-CLIP correlation (test family)",
    keys=("scale",), defaults={"scale": 1.0}, reads="activations", score=correlation_score,
    options=lambda option, settings: None))
