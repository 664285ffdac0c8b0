"""ConVis concept saliency maps (Giulivi & Boracchi 2024), batched.

An image is resized to CLIP's input side S and padded on every side by the largest window
with seeded uniform noise.  Square windows of each scale (default 128 and 64 px of a 224 px
image, scaled to S; stride 16 px likewise) slide over the padded canvas on a grid starting at
its corner, so border pixels are covered as often as central ones.  Each window overlapping
the image is cropped (what lies outside the image inside it is noise), resized to S and
embedded with CLIP, in batches.  Every hierarchy node is ranked by cosine similarity to the
window (rank 0 = most similar); a concept's score in the window is the best rank among the
nodes of its subtree.  Per scale, each pixel gets the mean rank of the windows covering it;
the scales are averaged, the result is min-max normalised per concept and inverted (high =
"the concept is here"), then resized to the image's size.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from conceptlens.hierarchy import Hierarchy, node_texts
from conceptlens.models.clip import clip_input_size, clip_normalize_float, encode_texts

DEFAULT_WINDOWS = (128, 64)
DEFAULT_STRIDE = 16
REFERENCE_SIZE = 224


def scaled_px(px: float, reference_size: int, size: int) -> int:
    """``px`` pixels of a ``reference_size`` image expressed at ``size`` (>= 1 px)."""
    if px <= 0 or reference_size <= 0 or size <= 0:
        raise ValueError(f"window/stride sizes must be positive, got px={px}, "
                         f"reference_size={reference_size}, size={size}")
    return max(1, int(round(px * size / reference_size)))


@dataclass(frozen=True)
class Scale:
    """One window scale on an S x S image padded by ``pad``: windows of side ``window`` at
    ``starts`` (padded coordinates, same along x and y); ``len(starts) ** 2`` windows."""

    size: int
    window: int
    stride: int
    pad: int
    starts: np.ndarray

    @property
    def n_windows(self) -> int:
        return len(self.starts) ** 2

    def coverage(self) -> np.ndarray:
        """(k, size) float32: 1 where the window starting at ``starts[i]`` covers image
        pixel j along one axis."""
        q = np.arange(self.size) + self.pad
        s = self.starts[:, None]
        return ((q >= s) & (q < s + self.window)).astype(np.float32)


def window_starts(size: int, window: int, stride: int, pad: int) -> np.ndarray:
    """Starts (padded coordinates) of the windows on the grid 0, stride, ... that lie inside
    the padded canvas (side size + 2 pad) and overlap the image [pad, pad + size)."""
    if window > size + 2 * pad:
        raise ValueError(f"window {window} px exceeds the padded image ({size} + 2 x {pad} px)")
    starts = np.arange(0, size + 2 * pad - window + 1, stride)
    return starts[(starts < pad + size) & (starts + window > pad)]


def window_scales(size: int, window_sizes: Sequence[int] = DEFAULT_WINDOWS,
                  stride: int = DEFAULT_STRIDE, reference_size: int = REFERENCE_SIZE) -> list[Scale]:
    """The scales for an S = ``size`` image: window sides and stride given in pixels of a
    ``reference_size`` image; the padding is the largest window."""
    if not len(window_sizes):
        raise ValueError("window_sizes is empty")
    windows = [scaled_px(w, reference_size, size) for w in window_sizes]
    step = scaled_px(stride, reference_size, size)
    pad = max(windows)
    return [Scale(size, w, step, pad, window_starts(size, w, step, pad)) for w in windows]


def best_subtree_rank(similarities: torch.Tensor, subtree_masks: torch.Tensor) -> torch.Tensor:
    """Best (lowest) rank within each concept's subtree.

    similarities (W, N) window-node similarities; subtree_masks (C, N) bool.  A node's rank
    in a window is the number of nodes strictly more similar (0 = most similar; tied nodes
    share the best rank).  Returns (W, C) int64.
    """
    if subtree_masks.shape[1] != similarities.shape[1]:
        raise ValueError(f"subtree masks have {subtree_masks.shape[1]} nodes, similarities "
                         f"{similarities.shape[1]}")
    masks = subtree_masks.to(similarities.device, torch.bool)
    empty = ~masks.any(dim=1)
    if empty.any():
        raise ValueError(f"subtree masks {torch.nonzero(empty).flatten().tolist()} are empty")
    w, n = similarities.shape
    concept, node = masks.nonzero(as_tuple=True)
    best = torch.full((w, masks.shape[0]), -torch.inf, dtype=similarities.dtype,
                      device=similarities.device)
    best = best.scatter_reduce(1, concept.expand(w, -1), similarities[:, node], reduce="amax")
    ascending = similarities.sort(dim=1).values.contiguous()
    return n - torch.searchsorted(ascending, best.contiguous(), right=True)


def accumulate(ranks: torch.Tensor, row_coverage: torch.Tensor, col_coverage: torch.Tensor
               ) -> torch.Tensor:
    """Per-pixel mean of window scores.

    ranks (C, ky, kx): a score per concept and window (row-major grid of window starts);
    row_coverage (ky, H), col_coverage (kx, W): 1 where a window row/column covers a pixel.
    Returns (C, H, W): the sum of the scores of the windows covering each pixel divided by
    their number (separable coverage: one matrix product per axis).
    """
    total = torch.einsum("yh,cyx,xw->chw", row_coverage, ranks, col_coverage)
    count = row_coverage.sum(0)[:, None] * col_coverage.sum(0)[None, :]
    if (count == 0).any():
        raise ValueError("some pixels are covered by no window")
    return total / count


def normalise_invert(mean_ranks: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """(C, H, W) mean ranks -> maps in [0, 1], high where the rank is low.

    Each concept's map is min-max normalised and inverted; a constant map (no contrast)
    becomes ``1 - rank / (n_nodes - 1)`` everywhere (1 when always ranked first).
    """
    flat = mean_ranks.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    span = (hi - lo)[:, None, None]
    flat_map = 1 - (mean_ranks - lo[:, None, None]) / torch.where(span > 0, span, 1)
    constant = 1 - mean_ranks / max(1, n_nodes - 1)
    return torch.where(span > 0, flat_map, constant).clamp(0, 1)


def _as_float_image(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (H, W, 3) array or float (3, H, W) tensor in [0, 1] -> float (3, H, W)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image array must be (H, W, 3), got {image.shape}")
        x = torch.tensor(image).permute(2, 0, 1).float()
        return x / 255.0 if image.dtype == np.uint8 else x
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image tensor must be (3, H, W), got {tuple(image.shape)}")
    return image.float()


def noise_canvas(image: torch.Tensor, pad: int, seed: int) -> torch.Tensor:
    """(3, S, S) image in [0, 1] on a (3, S + 2 pad, S + 2 pad) canvas of seeded uniform noise."""
    _, h, w = image.shape
    gen = torch.Generator().manual_seed(int(seed))
    canvas = torch.rand(3, h + 2 * pad, w + 2 * pad, generator=gen).to(image.device)
    canvas[:, pad:pad + h, pad:pad + w] = image
    return canvas


def window_batches(canvas: torch.Tensor, scale: Scale, batch_size: int):
    """Yield (b, 3, S, S) channels-last crops of ``canvas`` at the windows of ``scale``,
    resized to S, in row-major order of the window grid.

    The windows are one strided view of the canvas (``unfold`` along y and x; the starts
    are evenly spaced); a batch is gathered from it in one copy and resized in one call
    (bilinear; antialiased only when shrinking, where it changes the result)."""
    first_start = int(scale.starts[0])
    k = len(scale.starts)
    if k > 1 and not (np.diff(scale.starts) == scale.stride).all():
        raise ValueError("window starts are not evenly spaced by the stride")
    view = canvas[:, first_start:, first_start:].unfold(1, scale.window, scale.stride)
    view = view.unfold(2, scale.window, scale.stride)[:, :k, :k]  # (3, k, k, w, w)
    view = view.permute(1, 2, 3, 4, 0)  # (k, k, w, w, 3): a window's pixels channels-last
    for first in range(0, k * k, batch_size):
        idx = torch.arange(first, min(first + batch_size, k * k), device=canvas.device)
        crops = view[idx // k, idx % k].permute(0, 3, 1, 2)  # (b, 3, w, w) channels-last
        if scale.window != scale.size:
            crops = nn.functional.interpolate(crops, size=(scale.size, scale.size), mode="bilinear",
                                              align_corners=False,
                                              antialias=scale.window > scale.size)
        yield crops


def reference_window_batches(canvas: torch.Tensor, scale: Scale, batch_size: int):
    """:func:`window_batches` the straightforward way (the reference of the tests and the
    "before" of ``benchmarks/convis.py``): advanced indexing, one antialiased resize a
    batch, contiguous NCHW crops."""
    starts = torch.as_tensor(scale.starts, device=canvas.device)
    k = len(starts)
    offsets = torch.arange(scale.window, device=canvas.device)
    for first in range(0, k * k, batch_size):
        idx = torch.arange(first, min(first + batch_size, k * k), device=canvas.device)
        rows = starts[idx // k][:, None] + offsets  # (b, window)
        cols = starts[idx % k][:, None] + offsets
        crops = canvas[:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3)
        if scale.window != scale.size:
            crops = nn.functional.interpolate(crops, size=(scale.size, scale.size), mode="bilinear",
                                              align_corners=False, antialias=True)
        yield crops


def _fold_batch_norms(resnet: nn.Module) -> nn.Module:
    """A copy of open_clip's ModifiedResNet in eval mode with every BatchNorm folded into
    the convolution before it (the stem's three, each Bottleneck's three and its
    downsample's), the BatchNorms replaced by identities: the same function up to
    rounding, one pass over each activation fewer."""
    from open_clip.modified_resnet import Bottleneck
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(resnet).eval()
    for block in [folded, *(m for m in folded.modules() if isinstance(m, Bottleneck))]:
        for i in (1, 2, 3):
            conv, bn = getattr(block, f"conv{i}"), getattr(block, f"bn{i}")
            setattr(block, f"conv{i}", fuse_conv_bn_eval(conv, bn))
            setattr(block, f"bn{i}", nn.Identity())
        down = getattr(block, "downsample", None)
        if down is not None:  # Sequential("-1": AvgPool2d, "0": Conv2d, "1": BatchNorm2d)
            parts = down._modules
            parts["0"] = fuse_conv_bn_eval(parts["0"], parts["1"])
            parts["1"] = nn.Identity()
    return folded.to(memory_format=torch.channels_last)


def attention_pool_first_token(pool: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """open_clip's AttentionPool2d on (n, c, h, w) features, computed for the one token it
    returns (the mean token's query), with no projection of the other tokens.

    Per head h with query q (scaled by 1/sqrt(d)) and tokens t_l: the key bias adds the same
    q.b_k to every score, so it cancels in the softmax and the scores are (W_k^T q).t_l;
    the attention weights a_l sum to 1, so the head's output W_v (sum_l a_l t_l) + b_v.
    Three c x c products a window instead of 3 (hw + 1); equal up to rounding."""
    n, c = x.shape[:2]
    heads = pool.num_heads
    d = c // heads
    tokens = x.flatten(2).transpose(1, 2)  # (n, hw, c)
    tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
    tokens = tokens + pool.positional_embedding.to(tokens.dtype)  # (n, L, c)
    q = nn.functional.linear(tokens[:, 0], pool.q_proj.weight, pool.q_proj.bias)
    q = q.view(n, heads, d) * d ** -0.5
    wk = pool.k_proj.weight.view(heads, d, c)
    wv = pool.v_proj.weight.view(heads, d, c)
    keys = torch.einsum("nhd,hdc->nhc", q, wk)  # W_k^T q per head
    weights = torch.einsum("nhc,nlc->nhl", keys, tokens).softmax(dim=-1)
    mixed = torch.einsum("nhl,nlc->nhc", weights, tokens)
    out = torch.einsum("nhc,hdc->nhd", mixed, wv).reshape(n, c) + pool.v_proj.bias
    return nn.functional.linear(out, pool.c_proj.weight, pool.c_proj.bias)


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``auto`` -> autocast on CUDA or on a CPU with native bfloat16 (AVX-512 BF16, AMX),
    else float32; other values unchanged."""
    if precision != "auto":
        return precision
    device = torch.device(device)
    native = device.type == "cuda" or (device.type == "cpu"
                                       and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return "autocast" if native else "float32"


class WindowEncoder:
    """CLIP's image tower for ConVis windows: ``encoder(crops)`` maps CLIP-normalised
    crops (b, 3, S, S) to (b, d) L2-normalised float32 embeddings.

    For open_clip's ModifiedResNet (the world CLIP, OpenAI's RN50...) the tower is a copy
    with its BatchNorms folded into the convolutions, run channels-last, and its attention
    pool computed for the returned token only (:func:`attention_pool_first_token`); with
    ``precision`` autocast the convolutions run under torch.autocast (bfloat16 on the CPU,
    float16 on CUDA) and the attention pool in float32.  Other towers run
    ``model.encode_image`` under :func:`conceptlens.devices.precision_context`.
    """

    def __init__(self, model: nn.Module, precision: str = "float32"):
        from open_clip.modified_resnet import ModifiedResNet

        from conceptlens.devices import precision_context

        self.model = model
        self.device = next(model.parameters()).device
        self.precision = precision = resolve_precision(precision, self.device)
        visual = getattr(model, "visual", None)
        self.resnet = _fold_batch_norms(visual) if isinstance(visual, ModifiedResNet) else None
        precision_context(precision, self.device)  # an unknown precision fails here
        self._context = lambda: precision_context(precision, self.device)

    @torch.no_grad()
    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        if self.resnet is None:
            with self._context():
                emb = self.model.encode_image(crops)
        else:
            r = self.resnet
            with self._context():
                x = r.stem(crops.contiguous(memory_format=torch.channels_last))
                x = r.layer4(r.layer3(r.layer2(r.layer1(x))))
            emb = attention_pool_first_token(r.attnpool, x.float())
        return nn.functional.normalize(emb.float(), dim=-1)


@torch.no_grad()
def embed_nodes(model: nn.Module, tokenizer, hierarchy: Hierarchy, node_text: str = "lemma",
                template: str = "A photo of a {}", batch_size: int = 512) -> torch.Tensor:
    """(N, d) L2-normalised CLIP text embeddings of the hierarchy's nodes (a node with several
    lemmas: the normalised mean of its lemma prompts)."""
    texts, owner = node_texts(hierarchy, node_text, template)
    emb = encode_texts(model, tokenizer, texts, batch_size=batch_size)
    out = torch.zeros(len(hierarchy), emb.shape[1], dtype=emb.dtype, device=emb.device)
    out.index_add_(0, torch.as_tensor(owner, device=emb.device), emb)
    return nn.functional.normalize(out, dim=-1)


@torch.no_grad()
def convis_maps(model: nn.Module, image: np.ndarray | torch.Tensor, node_embeddings: torch.Tensor,
                subtree_masks: np.ndarray | torch.Tensor, *,
                window_sizes: Sequence[int] = DEFAULT_WINDOWS, stride: int = DEFAULT_STRIDE,
                reference_size: int = REFERENCE_SIZE, batch_size: int = 256, seed: int = 0,
                precision: str = "float32", encoder: WindowEncoder | None = None,
                reference: bool = False) -> np.ndarray:
    """ConVis maps of C concepts on one image, from one pass over its windows.

    image: uint8 (H, W, 3) or float (3, H, W) in [0, 1]; node_embeddings (N, d) normalised;
    subtree_masks (C, N) bool; ``precision``: float32, or autocast for CLIP's image tower
    (similarities and ranks stay float32); ``encoder``: a :class:`WindowEncoder` of
    ``model`` to reuse across images (default: one made here with ``precision``);
    ``reference``: the straightforward computation instead (crops by advanced indexing,
    ``model.encode_image`` unchanged), what the fast path is tested against.  Returns
    (C, H, W) float32 in [0, 1] (high = the concept is here).
    """
    from conceptlens.devices import precision_context

    device = next(model.parameters()).device
    x = _as_float_image(image).to(device)
    h, w = x.shape[1:]
    size = clip_input_size(model)
    masks = torch.as_tensor(np.asarray(subtree_masks), dtype=torch.bool, device=device)
    if masks.ndim != 2:
        raise ValueError(f"subtree_masks must be (C, N), got {tuple(masks.shape)}")
    if masks.shape[0] == 0:
        return np.zeros((0, h, w), dtype=np.float32)
    nodes = node_embeddings.to(device, torch.float32)
    if (h, w) != (size, size):
        x = nn.functional.interpolate(x[None], size=(size, size), mode="bilinear",
                                      align_corners=False, antialias=True)[0]
    scales = window_scales(size, window_sizes, stride, reference_size)
    canvas = noise_canvas(x.clamp(0, 1), scales[0].pad, seed)
    if reference:
        precision = resolve_precision(precision, device)

        def embed(crops: torch.Tensor) -> torch.Tensor:
            with precision_context(precision, device):
                emb = model.encode_image(clip_normalize_float(model, crops))
            return nn.functional.normalize(emb.float(), dim=-1)
        batches = reference_window_batches
    else:
        embed = encoder if encoder is not None else WindowEncoder(model, precision)
        # CLIP's per-channel normalisation commutes with cropping and bilinear resizing
        canvas = clip_normalize_float(model, canvas[None])[0]
        batches = window_batches
    mean_ranks = torch.zeros(masks.shape[0], size, size, device=device)
    for scale in scales:
        ranks = [best_subtree_rank(embed(crops) @ nodes.T, masks)
                 for crops in batches(canvas, scale, batch_size)]
        k = len(scale.starts)
        grid = torch.cat(ranks).T.reshape(-1, k, k).float()  # (C, ky, kx)
        cov = torch.as_tensor(scale.coverage(), device=device)
        mean_ranks += accumulate(grid, cov, cov) / len(scales)
    maps = normalise_invert(mean_ranks, len(nodes))
    if (h, w) != (size, size):
        maps = nn.functional.interpolate(maps[None], size=(h, w), mode="bilinear",
                                         align_corners=False)[0].clamp(0, 1)
    return maps.cpu().numpy().astype(np.float32)


def n_windows(size: int, window_sizes: Sequence[int] = DEFAULT_WINDOWS, stride: int = DEFAULT_STRIDE,
              reference_size: int = REFERENCE_SIZE) -> int:
    """Number of windows CLIP embeds per image of CLIP input side ``size``."""
    return sum(s.n_windows for s in window_scales(size, window_sizes, stride, reference_size))


# ---------------------------------------------------------------------------- set-up and one map

def load_convis(clip: str, pretrained: str | None, hierarchy: str | os.PathLike | Hierarchy,
                node_text: str = "lemma", template: str = "A photo of a {}",
                device: str | torch.device = "cpu") -> tuple[nn.Module, Hierarchy, torch.Tensor]:
    """(CLIP model, hierarchy, node embeddings (N, d)) for ConVis; ``pretrained`` is a tag, a
    checkpoint path, or None/empty."""
    from conceptlens.devices import resolve_device
    from conceptlens.io.concepts import read_hierarchy_tsv
    from conceptlens.models.clip import load_clip

    dev = resolve_device(device) if isinstance(device, str) else device
    model, _, tokenizer = load_clip(clip, pretrained or None, device=dev)
    tree = hierarchy if isinstance(hierarchy, Hierarchy) else read_hierarchy_tsv(hierarchy)
    return model, tree, embed_nodes(model, tokenizer, tree, node_text, template)


def concept_map(image_path: str | os.PathLike, concept: str, clip: str | tuple,
                hierarchy: str | os.PathLike | Hierarchy, *, pretrained: str | None = None,
                node_text: str = "lemma", template: str = "A photo of a {}",
                device: str = "cpu", senses: str = "first", **kwargs) -> np.ndarray:
    """ConVis map (H, W) in [0, 1] of ``concept`` on the image file ``image_path``.

    ``clip`` is an open_clip model name (loaded with ``pretrained``) or a (model, preprocess,
    tokenizer) triple; ``hierarchy`` a TSV path or a :class:`Hierarchy`.  Further keyword
    arguments go to :func:`convis_maps` (window_sizes, stride, reference_size, ...).
    """
    from conceptlens.hierarchy import resolve, subtree_masks
    from conceptlens.images import load_rgb_array
    from conceptlens.io.concepts import read_hierarchy_tsv

    if isinstance(clip, str):
        from conceptlens.devices import resolve_device
        from conceptlens.models.clip import load_clip

        model, _, tokenizer = load_clip(clip, pretrained, device=resolve_device(device))
    else:
        model, _, tokenizer = clip
    tree = hierarchy if isinstance(hierarchy, Hierarchy) else read_hierarchy_tsv(hierarchy)
    masks = subtree_masks(tree, [resolve(tree, concept, senses)])
    pixels = load_rgb_array(image_path)
    nodes = embed_nodes(model, tokenizer, tree, node_text, template)
    return convis_maps(model, pixels, nodes, masks, **kwargs)[0]
