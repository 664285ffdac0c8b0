"""Evidence for a neuron's description without ground truth (the evidence stage).

The probe set is split once into two halves by :func:`selection_half`: descriptions are
chosen again on the *selection* half and scored on the other, the *evaluation* half, so
that no image a description was chosen from is used to score it.
"""

from __future__ import annotations

import numpy as np

#: seed of the probe set's split into a selection and an evaluation half
HALF_SEED = 0


def selection_half(n_images: int, seed: int = HALF_SEED) -> np.ndarray:
    """bool (n_images,): True for the images of the selection half (``n_images // 2`` of
    them, drawn by a seeded permutation so that neither half follows the probe order)."""
    order = np.random.default_rng(seed).permutation(n_images)
    half = np.zeros(n_images, dtype=bool)
    half[order[: n_images // 2]] = True
    return half
