"""Concept scoring of neurons: WWW concept scores and CLIP-Dissect similarity functions.

Pure, vectorised torch functions.  Nothing loops over neurons or concepts in Python; the
loops below run over *chunks* (blocks of neurons / concepts) to bound memory, and over the
top-k *ranks* in soft-WPMI.  All functions work on the device and floating dtype of their
inputs (float32 in the workflow) and return new tensors.

Shapes use ``n`` = neurons, ``m`` / ``n_concepts`` = concepts, ``d`` = embedding dimension,
``k`` = top images per neuron.

* WWW (Ahn et al., CVPR 2024): ``www_scores``, ``select_concepts``, ``topk_concepts``.
* CLIP-Dissect (Oikarinen & Weng, ICLR 2023): ``soft_wpmi``, ``wpmi`` (on the image-concept
  matrix or, streamed in blocks, on an ``ImageConceptProduct``), ``cos_similarity``,
  ``cos_similarity_cubed``, ``rank_reorder`` (the functions of the reference
  ``similarity.py``), registered in ``CLIP_DISSECT_FUNCTIONS``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from conceptlens.progress import progress_blocks

#: working precision of www_scores' t-vMF image-concept products
Precision = Literal["float32", "bfloat16"]
#: default bytes of scratch memory one call may allocate (inputs and output not counted)
DEFAULT_MEMORY_BUDGET = 1 << 30
#: elements per (neuron x concept) tile of the soft-WPMI rank loop: big enough to amortise
#: the per-op overhead, small enough for the three tiles to stay near the caches
_SOFT_WPMI_TILE = 1 << 20
#: at most this many elements per scratch matrix even when the budget allows more: bigger
#: blocks make GEMMs no faster, and first-touching huge buffers costs time
_BLOCK_ELEMENTS = 48 << 20


# --------------------------------------------------------------------------- similarities


def cosine_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of L2-normalised rows: a (n, d), b (m, d) -> (n, m) = a @ b.T."""
    return a @ b.T


def tvmf_similarity(cos: Tensor, kappa: float) -> Tensor:
    """t-vMF similarity of cosines (any shape): ``(1 + cos) / (1 + kappa (1 - cos)) - 1``.

    kappa >= 0 is the concentration; kappa = 0 returns cos.  Values lie in [-1, 1].
    """
    _check_kappa(kappa)
    return (1 + cos) / (1 + kappa * (1 - cos)) - 1


def _check_kappa(kappa: float) -> None:
    if not kappa >= 0:
        raise ValueError(f"t-vMF kappa must be >= 0, got {kappa}")


def _tvmf_plus_one_(cos: Tensor, kappa: float, work: Tensor) -> Tensor:
    """In place: cos <- t-vMF(cos) + 1 = (1 + cos) / (1 + kappa (1 - cos)).

    ``work`` is scratch of cos's shape.  Three passes, no allocation.
    """
    torch.add(torch.tensor(1.0 + kappa, dtype=cos.dtype), cos, alpha=-kappa, out=work)
    return cos.add_(1).div_(work)


# --------------------------------------------------------------------------- WWW


def www_scores(image_embeddings: Tensor, topk_indices: Tensor, concept_embeddings: Tensor,
               template_embedding: Tensor, similarity: Literal["cosine", "tvmf"] = "cosine",
               kappa: float | None = None, concept_chunk: int | None = None,
               neuron_chunk: int | None = None,
               memory_budget: int = DEFAULT_MEMORY_BUDGET,
               precision: Precision = "float32", refine: float = 0.1) -> Tensor:
    """WWW concept scores ``S_j = mean_o [sim(v_o, t_j) - sim(v_o, t_tem)]`` per neuron.

    Args:
        image_embeddings: (n_images, d) L2-normalised CLIP embeddings of the distinct images.
        topk_indices: (n, k) long, rows of ``image_embeddings`` that are each neuron's top-k.
        concept_embeddings: (m, d) L2-normalised text embeddings ("A photo of a {c}").
        template_embedding: (d,) L2-normalised embedding of the bare template ("A photo of a").
        similarity: "cosine" or "tvmf" (t-vMF of the cosine with concentration ``kappa``).
        kappa: t-vMF concentration (>= 0); required for "tvmf", ignored for "cosine".
        concept_chunk, neuron_chunk: block sizes; None = chosen from ``memory_budget``
            (concepts) / all neurons at once.  Results do not depend on them.
        memory_budget: bytes of scratch memory the t-vMF path may use per block.
        precision: "float32" (default) or "bfloat16": t-vMF only, the image-concept
            cosines as bfloat16 products with float32 accumulation (rounded to bfloat16),
            the t-vMF and the means in float32, then each neuron's top concepts
            recomputed in float32 (``refine``).  About 2x faster on CPUs with bfloat16
            dot products (avx512_bf16, AMX).  Cosine scores are always computed in the
            embeddings' dtype.
        refine: bfloat16 only: per neuron, the concepts whose bfloat16 score is within
            ``refine * (|best| + std)`` of its best (best and standard deviation over its
            concepts) get their float32 score, so the top concepts and WWW's selection
            (alpha >= 1 - refine / 2 or so) are those of float32: they are scored
            by the float32 path itself (same block width); the other scores keep
            bfloat16's error (~1e-3 of their spread).  0 = no refinement.

    Returns:
        (n, m) scores, dtype of the embeddings (cosine units: differences of similarities).

    Cosine is linear, so S = M @ T.T - (M @ t_tem)[:, None] with M the neurons' mean image
    embeddings.  t-vMF is not: for each block of concepts it computes the similarities of
    the distinct images in the neurons' top-k sets, F = tvmf(U @ T_chunk.T), and averages
    them per neuron with ``embedding_bag(mode="mean")``, i.e. the sparse product A @ F
    with A (n, n_images) holding 1/k at each top-k position (faster than a CSR product on
    CPU).  The constant -1 of t-vMF cancels in the difference and is not computed.
    In bfloat16 the t-vMF is taken in the partial-fraction form
    ``tvmf(c) + 1 + 1/kappa = C / (1 + kappa - kappa c)``, C = (2 kappa + 1) / kappa
    (two passes over each block instead of three; the constant cancels too).
    """
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"unknown precision {precision!r}; use 'float32' or 'bfloat16'")
    _check_www_inputs(image_embeddings, topk_indices, concept_embeddings, template_embedding)
    n, m = topk_indices.shape[0], concept_embeddings.shape[0]
    out = image_embeddings.new_empty((n, m))
    if n == 0 or m == 0:
        return out
    nc = _chunk(neuron_chunk, n, "neuron_chunk")
    if similarity == "cosine":
        _www_cosine_into(out, image_embeddings, topk_indices, concept_embeddings,
                         template_embedding, nc, concept_chunk)
    elif similarity == "tvmf":
        if kappa is None:
            raise ValueError("similarity='tvmf' needs kappa")
        _check_kappa(kappa)
        concepts_bf16 = (concept_embeddings.to(torch.bfloat16) if precision == "bfloat16"
                         else concept_embeddings)
        for n0 in progress_blocks(n, nc, desc="WWW t-vMF scores", unit="neurons"):
            if precision == "float32":
                _www_tvmf_into(out[n0:n0 + nc], image_embeddings, topk_indices[n0:n0 + nc],
                               concept_embeddings, template_embedding, float(kappa),
                               concept_chunk, memory_budget)
            else:
                _www_tvmf_bf16_into(out[n0:n0 + nc], image_embeddings,
                                    topk_indices[n0:n0 + nc], concept_embeddings,
                                    concepts_bf16, template_embedding, float(kappa),
                                    concept_chunk, memory_budget, refine)
    else:
        raise ValueError(f"unknown similarity {similarity!r}; use 'cosine' or 'tvmf'")
    return out


def _check_www_inputs(images: Tensor, topk: Tensor, concepts: Tensor, template: Tensor
                      ) -> None:
    if images.ndim != 2 or concepts.ndim != 2 or template.ndim != 1:
        raise ValueError("image_embeddings (n_images, d), concept_embeddings (m, d) and "
                         "template_embedding (d,) expected; got shapes "
                         f"{tuple(images.shape)}, {tuple(concepts.shape)}, "
                         f"{tuple(template.shape)}")
    if not images.shape[1] == concepts.shape[1] == template.shape[0]:
        raise ValueError("embedding dimensions differ: "
                         f"{images.shape[1]}, {concepts.shape[1]}, {template.shape[0]}")
    if topk.ndim != 2 or topk.shape[1] < 1 or topk.dtype != torch.long:
        raise ValueError(f"topk_indices must be (n, k >= 1) long, got {tuple(topk.shape)} "
                         f"{topk.dtype}")
    if topk.numel() and (int(topk.min()) < 0 or int(topk.max()) >= images.shape[0]):
        raise ValueError(f"topk_indices out of range for {images.shape[0]} images")


def _www_cosine_into(out: Tensor, images: Tensor, topk: Tensor, concepts: Tensor,
                     template: Tensor, nc: int, concept_chunk: int | None) -> None:
    """Cosine WWW scores into out (n, m): mean embedding per neuron, then one GEMM."""
    n, m = out.shape
    cc = _chunk(concept_chunk, m, "concept_chunk")
    for n0 in range(0, n, nc):
        mean = F.embedding_bag(topk[n0:n0 + nc], images, mode="mean")  # (nc, d)
        tem = mean @ template  # (nc,)
        rows = out[n0:n0 + nc]
        if cc >= m:  # whole rows: write straight into the (contiguous) output block
            torch.mm(mean, concepts.T, out=rows)
        else:
            for c0 in range(0, m, cc):
                rows[:, c0:c0 + cc] = mean @ concepts[c0:c0 + cc].T
        rows.sub_(tem[:, None])


def _www_tvmf_into(out: Tensor, images: Tensor, topk: Tensor, concepts: Tensor,
                   template: Tensor, kappa: float, concept_chunk: int | None,
                   memory_budget: int) -> None:
    """t-vMF WWW scores of one block of neurons into out (nc, m)."""
    nc, m = out.shape
    union, inv = torch.unique(topk, return_inverse=True)  # distinct images, inv (nc, k)
    u = images.index_select(0, union)  # (n_union, d)
    n_union = u.shape[0]
    # template term: mean over each neuron's top-k of tvmf(v_o . t_tem) (+1)
    tem_sim = (u @ template)[:, None]
    tem = F.embedding_bag(inv, _tvmf_plus_one_(tem_sim, kappa, torch.empty_like(tem_sim)),
                          mode="mean")  # (nc, 1)
    elem = images.element_size()
    if concept_chunk is None:
        concept_chunk = _budget_chunk(memory_budget, elem * (2 * n_union + nc), m, n_union)
    cc = _chunk(concept_chunk, m, "concept_chunk")
    sims = images.new_empty(n_union * cc)  # flat scratch: any chunk width stays contiguous
    work = images.new_empty(n_union * cc)
    for c0 in range(0, m, cc):
        t = concepts[c0:c0 + cc]
        w = t.shape[0]
        s = sims[:n_union * w].view(n_union, w)
        torch.mm(u, t.T, out=s)
        _tvmf_plus_one_(s, kappa, work[:n_union * w].view(n_union, w))
        out[:, c0:c0 + w] = F.embedding_bag(inv, s, mode="mean").sub_(tem)


def _www_tvmf_bf16_into(out: Tensor, images: Tensor, topk: Tensor, concepts: Tensor,
                        concepts_bf16: Tensor, template: Tensor, kappa: float,
                        concept_chunk: int | None, memory_budget: int, refine: float
                        ) -> None:
    """t-vMF WWW scores of one block of neurons into out (nc, m), bfloat16 products.

    concepts: (m, d) float32, concepts_bf16 the same in bfloat16.  Per concept block:
    s = U @ T_chunk.T in bfloat16 (float32 accumulation), then in float32
    g = 1 / (1 + kappa - kappa s), its per-neuron mean, and out = C (mean g - template's
    mean g) (kappa = 0: plain cosine); then ``_refine_tvmf_`` on each neuron's top.
    """
    nc, m = out.shape
    union, inv = torch.unique(topk, return_inverse=True)  # distinct images, inv (nc, k)
    u32 = images.index_select(0, union)  # (n_union, d)
    u = u32.to(torch.bfloat16)
    n_union = u.shape[0]
    tem_cos = (u32 @ template)[:, None]  # template term in float32 (a constant per neuron)
    if kappa == 0:  # tvmf = cos: mean cos - template's mean cos
        tem = F.embedding_bag(inv, tem_cos, mode="mean")
        scale = 1.0
    else:
        tem_g = tem_cos.mul(-kappa).add_(1 + kappa).reciprocal_()
        tem = F.embedding_bag(inv, tem_g, mode="mean")  # (nc, 1)
        scale = (2 * kappa + 1) / kappa
    cc = _chunk(concept_chunk if concept_chunk is not None else  # bfloat16 + float32 copy
                _budget_chunk(memory_budget, 6 * n_union + 4 * nc, m, n_union), m,
                "concept_chunk")
    prod = u.new_empty(n_union * cc)  # flat scratch: any chunk width stays contiguous
    sims = out.new_empty(n_union * cc)
    one_plus_kappa = torch.tensor(1.0 + kappa, dtype=sims.dtype)
    for c0 in range(0, m, cc):
        t = concepts_bf16[c0:c0 + cc]
        w = t.shape[0]
        p = prod[:n_union * w].view(n_union, w)
        s = sims[:n_union * w].view(n_union, w)
        torch.mm(u, t.T, out=p)
        s.copy_(p)
        if kappa:
            torch.add(one_plus_kappa, s, alpha=-kappa, out=s).reciprocal_()
        block = out[:, c0:c0 + w]
        torch.sub(F.embedding_bag(inv, s, mode="mean"), tem, out=block)
        if scale != 1.0:
            block.mul_(scale)
    del prod, sims, s, p
    if refine > 0:
        _refine_tvmf_(out, images, topk, concepts, template, kappa, refine, concept_chunk,
                      memory_budget)


def _refine_tvmf_(out: Tensor, images: Tensor, topk: Tensor, concepts: Tensor,
                  template: Tensor, kappa: float, refine: float, concept_chunk: int | None,
                  memory_budget: int) -> None:
    """In place: float32 t-vMF scores for each neuron's top concepts of out (nc, m).

    A concept is refined when its score is >= best - refine * (|best| + std) of its
    neuron.  The concepts refined for some neuron are scored by the float32 path
    (``_www_tvmf_into``, same blocks and ops), so their scores are float32's.
    """
    best = out.amax(dim=1)
    window = best.abs().add_(out.std(dim=1)).mul_(refine)
    pairs = (out >= (best - window)[:, None]).nonzero()  # (P, 2): neuron, concept
    cols = pairs[:, 1].unique()
    exact = out.new_empty((out.shape[0], cols.shape[0]))
    _www_tvmf_into(exact, images, topk, concepts.index_select(0, cols), template, kappa,
                   concept_chunk, memory_budget)
    neuron, concept = pairs.unbind(1)
    out[neuron, concept] = exact[neuron, torch.searchsorted(cols, concept)]


class ConceptSelection(NamedTuple):
    """Result of ``select_concepts``."""

    mask: Tensor  #: (n, m) bool, selected concepts
    weak: Tensor  #: (n,) bool, neurons whose best score is <= 0 (only the argmax selected)


def select_concepts(scores: Tensor, alpha: float = 0.95) -> ConceptSelection:
    """Per neuron, the concepts with ``S_j >= alpha * max_j S_j`` (WWW's adaptive selection).

    scores: (n, m).  alpha in (0, 1].  The comparison is ``>=`` in the dtype of scores, so
    a concept exactly at the threshold is selected.  When a neuron's best score is <= 0
    the rule breaks down (alpha * max >= max): such a neuron gets only its single best
    concept (the first one on ties) and is flagged ``weak``.
    Returns a ``ConceptSelection(mask (n, m) bool, weak (n,) bool)``.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n, m), got {tuple(scores.shape)}")
    if scores.shape[1] == 0:
        raise ValueError("scores has no concepts")
    best, best_idx = scores.max(dim=1)
    weak = best <= 0
    mask = scores >= (alpha * best)[:, None]
    argmax_only = torch.zeros_like(mask).scatter_(1, best_idx[:, None], True)
    mask = torch.where(weak[:, None], argmax_only, mask)
    return ConceptSelection(mask, weak)


def selected_concept_lists(mask: Tensor, scores: Tensor) -> list[list[tuple[int, float]]]:
    """Per neuron, [(concept index, score), ...] of the masked concepts, by descending score.

    mask, scores: (n, m).  Ties keep ascending concept index.  Output formatting only (it
    loops over neurons to build Python lists).
    """
    if mask.shape != scores.shape:
        raise ValueError(f"mask {tuple(mask.shape)} and scores {tuple(scores.shape)} differ")
    masked = scores.masked_fill(~mask, float("-inf"))
    values, order = masked.sort(dim=1, descending=True, stable=True)
    counts = mask.sum(dim=1).tolist()
    values, order = values.tolist(), order.tolist()
    return [list(zip(order[i][:c], values[i][:c])) for i, c in enumerate(counts)]


def topk_concepts(scores: Tensor, k: int = 5) -> tuple[Tensor, Tensor]:
    """The k best concepts per neuron: scores (n, m) -> (values (n, k), indices (n, k)).

    k larger than m is clamped to m with a warning.
    """
    k = _clamp_top_k(k, scores.shape[1], "k", "concepts")
    values, indices = torch.topk(scores, k=k, dim=1)
    return values, indices


# --------------------------------------------------------------------------- CLIP-Dissect


class ImageConceptProduct(NamedTuple):
    """The image-concept matrix ``image_embeddings @ concept_embeddings.T`` (n_images, m),
    never held whole: ``soft_wpmi`` and ``wpmi`` accept it in place of ``clip_feats`` and
    compute it block by block (images of some top-k set x a block of concepts), twice
    (once for the softmax normaliser, once for the scores).

    image_embeddings (n_images, d), concept_embeddings (m, d), same floating dtype.  The
    results equal those of the dense matrix up to the rounding of the blocked products.
    """

    image_embeddings: Tensor
    concept_embeddings: Tensor

    @property
    def shape(self) -> tuple[int, int]:
        """(n_images, m)."""
        return self.image_embeddings.shape[0], self.concept_embeddings.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.image_embeddings.dtype

    def block(self, c0: int, c1: int) -> Tensor:
        """Columns c0:c1, a new (n_images, c1 - c0) tensor."""
        return self.image_embeddings @ self.concept_embeddings[c0:c1].T


#: what CLIP-Dissect's PMI functions take as clip_feats
ClipFeats = Tensor | ImageConceptProduct


def _row_blocks(clip_feats: ClipFeats, rows: Tensor) -> Callable[[int, int], Tensor]:
    """block(c0, c1) -> clip_feats[rows][:, c0:c1] as a new (len(rows), c1 - c0) tensor."""
    if isinstance(clip_feats, ImageConceptProduct):
        sub = ImageConceptProduct(clip_feats.image_embeddings.index_select(0, rows),
                                  clip_feats.concept_embeddings)
        return sub.block
    return lambda c0, c1: clip_feats[:, c0:c1].index_select(0, rows)


def soft_wpmi(clip_feats: ClipFeats, target_feats: Tensor, top_k: int = 100, a: float = 10,
              lam: float = 1, min_prob: float = 1e-7, p_start: float = 0.998,
              p_end: float = 0.97, concept_chunk: int | None = None,
              neuron_chunk: int | None = None,
              memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    """CLIP-Dissect soft-WPMI: clip_feats (n_images, m), target_feats (n_images, n) -> (n, m).

    clip_feats are image-concept cosines over the probe set, target_feats the neurons'
    activations.  As in the reference: p = softmax(a * clip_feats) over concepts; for the
    neuron's top_k images by activation (rank r = 0..top_k-1) with weights
    ``p_in_r = p_start - r / top_k * (p_start - p_end)``,
    ``log p(d|e) = sum_r log(1 + p_in_r (p_{i_r} - 1) + min_prob)`` and the result is
    ``log p(d|e) - lam * (logsumexp over neurons of log p(d|e) - log n)``, so one neuron's
    score depends on all neurons of the call.  top_k > n_images is clamped with a warning.

    Computed exactly but arranged for speed: ``1 + w (p - 1) + min_prob`` as
    ``w p + (1 - w + min_prob)`` (no cancellation), and the sum of logs as logs of products
    of a few consecutive ranks (group size chosen so that the products cannot underflow).
    ``clip_feats`` may be an ``ImageConceptProduct`` (embeddings instead of the matrix):
    the (n_images, m) matrix is then streamed in blocks of at most ``memory_budget``.
    """
    return _pmi(clip_feats, target_feats, top_k, a, lam, min_prob, (p_start, p_end),
                concept_chunk, neuron_chunk, memory_budget, "soft_wpmi")


def wpmi(clip_feats: ClipFeats, target_feats: Tensor, top_k: int = 28, a: float = 2,
         lam: float = 0.6, min_prob: float = 1e-7, concept_chunk: int | None = None,
         neuron_chunk: int | None = None,
         memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    """CLIP-Dissect WPMI: clip_feats (n_images, m), target_feats (n_images, n) -> (n, m).

    ``log p(d|e) = sum over the top_k images of log(softmax(a * clip_feats) + min_prob)``,
    result ``log p(d|e) - lam * (logsumexp over neurons of log p(d|e) - log n)``.
    top_k > n_images is clamped with a warning.  ``clip_feats`` may be an
    ``ImageConceptProduct``, streamed in blocks as in ``soft_wpmi``.
    """
    return _pmi(clip_feats, target_feats, top_k, a, lam, min_prob, None, concept_chunk,
                neuron_chunk, memory_budget, "wpmi")


def _pmi(clip_feats: ClipFeats, target_feats: Tensor, top_k: int, a: float, lam: float,
         min_prob: float, soft: tuple[float, float] | None, concept_chunk: int | None,
         neuron_chunk: int | None, memory_budget: int, name: str) -> Tensor:
    """Shared body of wpmi (soft=None) and soft_wpmi (soft=(p_start, p_end))."""
    check_clip_dissect_inputs(clip_feats, target_feats)
    n_images, m = clip_feats.shape
    n = target_feats.shape[1]
    dtype = clip_feats.dtype
    device = (clip_feats.image_embeddings if isinstance(clip_feats, ImageConceptProduct)
              else clip_feats).device
    out = torch.empty((n, m), dtype=dtype, device=device)
    if n == 0 or m == 0:
        return out
    top_k = _clamp_top_k(top_k, n_images, "top_k", "images", name, stacklevel=4)
    inds = torch.topk(target_feats, k=top_k, dim=0).indices  # (top_k, n), as the reference
    union, inv = torch.unique(inds, return_inverse=True)  # inv (top_k, n): rows of union
    n_union = union.shape[0]
    elem = out.element_size()
    columns = _row_blocks(clip_feats, union)  # (c0, c1) -> (n_union, c1 - c0)
    lse = _row_logsumexp(columns, n_union, m, out, a, memory_budget)  # (n_union,)
    if soft is None:
        bags = inv.T.contiguous()  # (n, top_k)
        nc = _chunk(neuron_chunk, n, "neuron_chunk")
        default_cc = _budget_chunk(memory_budget, elem * (n_union + nc + n), m, n_union)
    else:
        ranks = _soft_ranks(top_k, *soft, min_prob, dtype)
        nc = _chunk(neuron_chunk if neuron_chunk is not None else min(n, 1024), n,
                    "neuron_chunk")
        default_cc = min(max(16, _SOFT_WPMI_TILE // nc),
                         _budget_chunk(memory_budget, elem * (n_union + 3 * nc + n), m,
                                       n_union))
    cc = _chunk(concept_chunk if concept_chunk is not None else default_cc, m,
                "concept_chunk")
    log_n = math.log(n)
    for c0 in progress_blocks(m, cc, desc="PMI scores", unit="concepts"):
        # softmax over concepts, only for the images that are in some neuron's top-k
        p = columns(c0, c0 + cc).mul_(a).sub_(lse[:, None]).exp_()
        if soft is None:
            logp = p.add_(min_prob).log_()
            for n0 in range(0, n, nc):
                out[n0:n0 + nc, c0:c0 + cc] = F.embedding_bag(bags[n0:n0 + nc], logp,
                                                              mode="sum")
        else:
            for n0 in range(0, n, nc):
                rows = inv[:, n0:n0 + nc].contiguous()
                out[n0:n0 + nc, c0:c0 + cc] = _soft_log_likelihood(p, rows, ranks)
        block = out[:, c0:c0 + cc]  # complete over all neurons for these concepts
        prob_d = torch.logsumexp(block, dim=0).sub_(log_n)
        block.sub_(prob_d.mul_(lam))
    return out


def _row_logsumexp(columns: Callable[[int, int], Tensor], n_rows: int, m: int, like: Tensor,
                   a: float, memory_budget: int) -> Tensor:
    """logsumexp over the m concepts of a * rows -> (n_rows,), in concept chunks.

    ``columns(c0, c1)`` gives the (n_rows, c1 - c0) block of the rows (a new tensor);
    ``like`` the dtype and device.  Online (running max, rescaled running sum of
    exponentials), so the precision does not degrade with the number of chunks as a
    chain of logaddexp would.
    """
    cc = _budget_chunk(memory_budget, 2 * like.element_size() * n_rows, m, n_rows)
    run_max = like.new_full((n_rows, 1), float("-inf"))
    run_sum = like.new_zeros((n_rows, 1))
    for c0 in range(0, m, cc):
        chunk = columns(c0, c0 + cc).mul_(a)
        new_max = torch.maximum(run_max, chunk.amax(dim=1, keepdim=True))
        run_sum.mul_((run_max - new_max).exp_()).add_(
            chunk.sub_(new_max).exp_().sum(dim=1, keepdim=True))
        run_max = new_max
    return (run_sum.log_() + run_max)[:, 0]


def _soft_weights(top_k: int, p_start: float, p_end: float) -> Tensor:
    """Reference p_in weights (top_k,), computed as the reference does (default dtype)."""
    return p_start - (torch.arange(start=0, end=top_k) / top_k * (p_start - p_end))


class _SoftRanks(NamedTuple):
    """Per-rank factors w_r p + shift_r of soft-WPMI and the runs of ranks multiplied."""

    weights: list[float]
    shifts: list[Tensor]  #: 0-d CPU tensors 1 - w_r + min_prob in the working dtype
    groups: list[range]


def _soft_ranks(top_k: int, p_start: float, p_end: float, min_prob: float,
                dtype: torch.dtype) -> _SoftRanks:
    """Weights, shifts and product groups of soft-WPMI's ranks for ``dtype``.

    Each factor w p + (1 - w + min_prob) lies, for p in [0, 1], between its values at p = 0
    and p = 1; a run of g factors cannot under- or overflow when lo**g and hi**g stay in
    the dtype's normal range (1000x margin).  If a factor can be <= 0 (weights outside
    [0, 1]) every rank is its own group, so NaN and -inf come out as with the reference's
    per-term logs.  ``1 - w`` is exact for w in [0.5, 2].
    """
    weights = _soft_weights(top_k, p_start, p_end).to(dtype).tolist()
    shifts = [(1 - w) + min_prob for w in weights]
    ends = shifts + [w + s for w, s in zip(weights, shifts)]
    lo, hi = min(ends), max(ends)
    size = top_k
    if lo <= 0:
        size = 1
    else:
        info = torch.finfo(dtype)
        if lo < 1:
            size = min(size, int(math.log(info.tiny * 1e3) / math.log(lo)))
        if hi > 1:
            size = min(size, int(math.log(info.max / 1e3) / math.log(hi)))
        size = max(size, 1)
    return _SoftRanks(weights, [torch.tensor(s, dtype=dtype) for s in shifts],
                      [range(s, min(s + size, top_k)) for s in range(0, top_k, size)])


def _soft_log_likelihood(p: Tensor, inv: Tensor, ranks: _SoftRanks) -> Tensor:
    """sum_r log(w_r p[inv[r, j]] + 1 - w_r + min_prob) -> (nc, cc).

    p: (n_union, cc) softmax probabilities; inv: (top_k, nc) rows of p per rank and
    neuron.  Loops over ranks (not neurons or concepts): each step gathers one (nc, cc)
    tile and multiplies it into the running product of its group; one log per group.
    """
    shape = (inv.shape[1], p.shape[1])
    total = p.new_zeros(shape)
    prod, factor = p.new_empty(shape), p.new_empty(shape)
    for group in ranks.groups:
        for j, r in enumerate(group):
            dest = prod if j == 0 else factor
            torch.index_select(p, 0, inv[r], out=dest)
            torch.add(ranks.shifts[r], dest, alpha=ranks.weights[r], out=dest)
            if j:
                prod.mul_(factor)
        total.add_(prod.log_())
    return total


def cos_similarity(clip_feats: Tensor, target_feats: Tensor,
                   concept_chunk: int | None = None, neuron_chunk: int | None = None,
                   memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    """Cosine over images: clip_feats (n_images, m), target_feats (n_images, n) -> (n, m).

    Each column is L2-normalised over the images, then target.T @ clip.  As in the
    reference, a column of zeros (e.g. a dead neuron) gives NaN.
    """
    check_clip_dissect_inputs(clip_feats, target_feats)
    target = target_feats.to(clip_feats.dtype)
    target = target / torch.norm(target, p=2, dim=0, keepdim=True)
    return _column_blocks(clip_feats, target.T,
                          lambda c: c / torch.norm(c, p=2, dim=0, keepdim=True),
                          concept_chunk, neuron_chunk, memory_budget)


def cos_similarity_cubed(clip_feats: Tensor, target_feats: Tensor, min_norm: float = 1e-3,
                         concept_chunk: int | None = None, neuron_chunk: int | None = None,
                         memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    """Cubed cosine: clip_feats (n_images, m), target_feats (n_images, n) -> (n, m).

    Each column: subtract its mean over images, cube, divide by max(L2 norm, min_norm);
    then target.T @ clip.
    """
    check_clip_dissect_inputs(clip_feats, target_feats)

    def cube(x: Tensor) -> Tensor:
        x = (x - torch.mean(x, dim=0, keepdim=True)) ** 3
        return x / torch.clip(torch.norm(x, p=2, dim=0, keepdim=True), min_norm)

    target = cube(target_feats.to(clip_feats.dtype))
    return _column_blocks(clip_feats, target.T, cube, concept_chunk, neuron_chunk,
                          memory_budget)


def _column_blocks(clip_feats: Tensor, target_t: Tensor, transform: Callable[[Tensor], Tensor],
                   concept_chunk: int | None, neuron_chunk: int | None, memory_budget: int
                   ) -> Tensor:
    """out (n, m) = target_t (n, n_images) @ transform(clip_feats column block)."""
    n_images, m = clip_feats.shape
    n = target_t.shape[0]
    out = clip_feats.new_empty((n, m))
    if n == 0 or m == 0:
        return out
    nc = _chunk(neuron_chunk, n, "neuron_chunk")
    per_column = clip_feats.element_size() * (3 * n_images + nc)
    if concept_chunk is None:
        concept_chunk = _budget_chunk(memory_budget, per_column, m, n_images)
    cc = _chunk(concept_chunk, m, "concept_chunk")
    for c0 in progress_blocks(m, cc, desc="CLIP-Dissect scores", unit="concepts"):
        block = transform(clip_feats[:, c0:c0 + cc])
        for n0 in range(0, n, nc):
            out[n0:n0 + nc, c0:c0 + cc] = target_t[n0:n0 + nc] @ block
    return out


def rank_reorder(clip_feats: Tensor, target_feats: Tensor, p: float = 3,
                 top_fraction: float = 0.05, scale_p: float = 0.5,
                 baseline: Literal["expected", "sampled"] = "expected",
                 generator: torch.Generator | None = None, concept_chunk: int | None = None,
                 neuron_chunk: int | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    """CLIP-Dissect rank reorder: clip_feats (n_images, m), target_feats (n_images, n) -> (n, m).

    For each neuron, its top_n = int(n_images * top_fraction) images by activation x
    (descending).  For each concept the images are ranked by their clip value and the
    activations re-assigned by that rank (lowest clip value gets the lowest activation);
    error = mean |x - x_reordered|**p / baseline / mean(clip of those images)**scale_p,
    result = -error (higher = better).  Like the reference, a negative mean clip value
    with a fractional scale_p gives NaN.

    ``baseline`` is the per-neuron normaliser mean |x_i - x_pi(i)|**p over random
    permutations pi.  The reference draws 5 random permutations per neuron (from the
    global RNG), which makes its output random; ``"expected"`` (default) uses its exact
    expectation, the mean over all pairs (i, j) of |x_i - x_j|**p, so the result is
    deterministic.  ``"sampled"`` draws 5 permutations per neuron like the reference (from
    ``generator``; not the reference's random stream).  The baseline is one positive
    constant per neuron: it never changes the order of concepts within a neuron.
    Rank ties (equal clip values) are broken by image order (stable sort).
    """
    check_clip_dissect_inputs(clip_feats, target_feats)
    n_images, m = clip_feats.shape
    n = target_feats.shape[1]
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    top_n = int(n_images * top_fraction)
    if top_n < 2:
        raise ValueError(f"rank_reorder needs >= 2 top images per neuron; int({n_images} * "
                         f"{top_fraction}) = {top_n}")
    out = clip_feats.new_empty((n, m))
    if n == 0 or m == 0:
        return out
    values, inds = torch.topk(target_feats.to(clip_feats.dtype), k=top_n, dim=0)
    values = values.T.contiguous()  # (n, top_n), descending
    base = _permutation_baseline(values, p, baseline, generator, memory_budget)  # (n,)
    ascending = values.flip(1)
    elem = clip_feats.element_size()
    # (neuron, concept) cells per block
    cells = max(1, min(memory_budget // (top_n * (5 * elem + 32)), _BLOCK_ELEMENTS // top_n))
    nc = _chunk(neuron_chunk if neuron_chunk is not None else min(n, cells), n,
                "neuron_chunk")
    cc = _chunk(concept_chunk if concept_chunk is not None else max(1, cells // nc), m,
                "concept_chunk")
    for n0 in progress_blocks(n, nc, desc="rank reorder scores", unit="neurons"):
        idx = inds[:, n0:n0 + nc].reshape(-1)
        desc, asc = values[n0:n0 + nc, None, :], ascending[n0:n0 + nc, None, :]
        for c0 in range(0, m, cc):
            clip = clip_feats[:, c0:c0 + cc].index_select(0, idx)  # (top_n * nc, cc)
            clip = clip.view(top_n, -1, clip.shape[1]).permute(1, 2, 0).contiguous()
            # clip: (nc, cc, top_n)
            avg_clip = clip.mean(dim=2)
            order = clip.argsort(dim=2, stable=True)
            del clip
            ranks = torch.empty_like(order).scatter_(
                2, order, torch.arange(top_n, device=order.device).expand_as(order))
            del order
            reorg = asc.expand(-1, ranks.shape[1], -1).gather(2, ranks)
            del ranks
            errors = (desc - reorg).abs_().pow_(p).mean(dim=2) / base[n0:n0 + nc, None]
            out[n0:n0 + nc, c0:c0 + cc] = -(errors / avg_clip ** scale_p)
    return out


def _permutation_baseline(values: Tensor, p: float, baseline: str,
                          generator: torch.Generator | None, memory_budget: int) -> Tensor:
    """Per-neuron mean |x_i - x_pi(i)|**p of values (n, top_n) -> (n,)."""
    n, top_n = values.shape
    if baseline == "expected":
        per_neuron = top_n * top_n
    elif baseline == "sampled":
        per_neuron = 5 * top_n
    else:
        raise ValueError(f"unknown baseline {baseline!r}; use 'expected' or 'sampled'")
    nb = max(1, min(memory_budget // (per_neuron * (values.element_size() + 8) * 2),
                    _BLOCK_ELEMENTS // per_neuron))
    out = values.new_empty(n)
    for n0 in range(0, n, nb):
        x = values[n0:n0 + nb]
        if baseline == "expected":
            diff = x[:, :, None] - x[:, None, :]
        else:
            noise = torch.rand((x.shape[0], 5, top_n), generator=generator,
                               device=x.device if generator is None else generator.device)
            perm = noise.to(x.device).argsort(dim=2)
            ascending = x.flip(1)[:, None, :]
            diff = ascending - ascending.expand(-1, 5, -1).gather(2, perm)
        out[n0:n0 + nb] = diff.abs_().pow_(p).mean(dim=(1, 2))
    return out


def _row_bytes(x: Tensor) -> np.ndarray:
    """(n, ...) tensor -> (n,) numpy void keys, each the raw bytes of one row."""
    a = np.ascontiguousarray(x.detach().cpu().numpy()).reshape(x.shape[0], -1)
    a = np.ascontiguousarray(a.view(np.uint8))
    if a.shape[1] == 0:  # rows without columns: all equal
        a = np.zeros((a.shape[0], 1), np.uint8)
    return a.view(np.dtype((np.void, a.shape[1]))).ravel()


def canonical_order(clip_feats: Tensor, target_feats: Tensor) -> Tensor:
    """Long (n_images,): an order of the images that depends only on their content.

    Sorted by the bytes of each image's activation row, then (only among images with
    identical activations) of its clip row.  Images equal in both are interchangeable, so
    scoring the rows in this order gives the same result for any permutation of the input.
    """
    n = target_feats.shape[0]
    _, group = np.unique(_row_bytes(target_feats), return_inverse=True)
    group = group.reshape(-1)
    tie = np.bincount(group, minlength=1)[group] > 1
    clip_rank = np.zeros(n, np.int64)
    if tie.any():
        rows = torch.from_numpy(np.flatnonzero(tie)).to(clip_feats.device)
        _, ranks = np.unique(_row_bytes(clip_feats.index_select(0, rows)), return_inverse=True)
        clip_rank[tie] = ranks.reshape(-1)
    return torch.from_numpy(np.lexsort((clip_rank, group)))


def check_clip_dissect_inputs(clip_feats: ClipFeats, target_feats: Tensor) -> None:
    """clip_feats (n_images, m) floating point and target_feats (n_images, n), else ValueError.

    An ``ImageConceptProduct`` needs (n_images, d) and (m, d) embeddings of one dtype.
    """
    if isinstance(clip_feats, ImageConceptProduct):
        images, concepts = clip_feats
        if images.ndim != 2 or concepts.ndim != 2 or images.shape[1] != concepts.shape[1]:
            raise ValueError("ImageConceptProduct needs (n_images, d) and (m, d) embeddings; "
                             f"got {tuple(images.shape)}, {tuple(concepts.shape)}")
        if images.dtype != concepts.dtype:
            raise ValueError(f"embedding dtypes differ: {images.dtype}, {concepts.dtype}")
    if len(clip_feats.shape) != 2 or target_feats.ndim != 2:
        raise ValueError("clip_feats (n_images, n_concepts) and target_feats (n_images, "
                         f"n_neurons) expected; got {tuple(clip_feats.shape)}, "
                         f"{tuple(target_feats.shape)}")
    if clip_feats.shape[0] != target_feats.shape[0]:
        raise ValueError(f"clip_feats has {clip_feats.shape[0]} images, target_feats "
                         f"{target_feats.shape[0]}")
    if not clip_feats.dtype.is_floating_point:
        raise ValueError(f"clip_feats must be floating point, got {clip_feats.dtype}")


#: CLIP-Dissect similarity functions by config name (config key ``function``)
CLIP_DISSECT_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "soft_wpmi": soft_wpmi,
    "wpmi": wpmi,
    "cos": cos_similarity,
    "cos_cubed": cos_similarity_cubed,
    "rank_reorder": rank_reorder,
}


# --------------------------------------------------------------------------- helpers


def _clamp_top_k(top_k: int, available: int, what: str, of: str, fn: str = "",
                 stacklevel: int = 3) -> int:
    """top_k clamped to ``available`` (with a warning); ValueError when < 1."""
    if top_k < 1:
        raise ValueError(f"{what} must be >= 1, got {top_k}")
    if top_k > available:
        where = f"{fn}: " if fn else ""
        warnings.warn(f"{where}{what}={top_k} requested but there are only {available} {of}; "
                      f"using {what}={available}", stacklevel=stacklevel)
        return available
    return top_k


def _chunk(size: int | None, total: int, name: str) -> int:
    """A block size in [1, total]; None = total."""
    if size is None:
        return max(total, 1)
    if size < 1:
        raise ValueError(f"{name} must be >= 1, got {size}")
    return min(size, max(total, 1))


def _budget_chunk(memory_budget: int, bytes_per_item: int, total: int, rows: int) -> int:
    """Block width: items of ``bytes_per_item`` that fit in ``memory_budget``, at most
    ``_BLOCK_ELEMENTS // rows`` (rows = height of the largest scratch matrix); in [1, total].
    """
    fit = memory_budget // max(bytes_per_item, 1)
    return max(1, min(total, fit, _BLOCK_ELEMENTS // max(rows, 1)))
