"""Top-k activating images of every neuron (the files: :mod:`conceptlens.io.topk`)."""

from __future__ import annotations

import numpy as np
import torch


def topk_images(activations: np.ndarray | torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most activating images of each neuron, best first.

    activations: (n_images, n_neurons). Returns (indices (n_neurons, k) int64 into the
    images, values (n_neurons, k) float32). ``k`` larger than the number of images is an
    error naming both. Ties are broken by the lower image index (stable order).
    """
    acts = torch.as_tensor(np.asarray(activations, dtype=np.float32))
    n_images = acts.shape[0]
    if not 1 <= k <= n_images:
        raise ValueError(f"top-k with k={k} needs 1 <= k <= number of probe images ({n_images})")
    # stable: sort descending with a stable sort so equal activations keep image order
    order = torch.sort(acts.T, dim=1, descending=True, stable=True).indices[:, :k]
    values = torch.gather(acts.T, 1, order)
    return order.numpy(), values.numpy()
