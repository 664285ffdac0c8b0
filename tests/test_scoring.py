"""Unit tests of conceptlens.scoring: hand cases, naive per-neuron references, chunking."""

from __future__ import annotations

import math

import pytest
import torch

from conceptlens.scoring import (
    CLIP_DISSECT_FUNCTIONS,
    ImageConceptProduct,
    cos_similarity,
    cos_similarity_cubed,
    cosine_similarity,
    rank_reorder,
    select_concepts,
    selected_concept_lists,
    soft_wpmi,
    topk_concepts,
    tvmf_similarity,
    wpmi,
    www_scores,
)

F64 = torch.float64


def unit_rows(n: int, d: int, gen: torch.Generator, dtype: torch.dtype = F64) -> torch.Tensor:
    x = torch.randn(n, d, generator=gen, dtype=dtype)
    return x / x.norm(dim=1, keepdim=True)


def random_topk(n_neurons: int, k: int, n_images: int, gen: torch.Generator) -> torch.Tensor:
    """(n_neurons, k) distinct image indices per neuron."""
    return torch.rand(n_neurons, n_images, generator=gen).argsort(dim=1)[:, :k]


# --------------------------------------------------------------------------- similarities


def test_tvmf_hand_values():
    cos = torch.tensor([1.0, 0.0, -1.0, 0.5])
    assert torch.allclose(tvmf_similarity(cos, 1.0), torch.tensor([1.0, -0.5, -1.0, 0.0]))
    # kappa = 2, cos = 0.5: 1.5 / (1 + 2 * 0.5) - 1 = -0.25
    assert tvmf_similarity(torch.tensor(0.5), 2.0).item() == pytest.approx(-0.25)
    assert torch.equal(tvmf_similarity(cos, 0.0), cos)
    with pytest.raises(ValueError, match="kappa"):
        tvmf_similarity(cos, -1.0)


def test_cosine_similarity_is_product_of_unit_rows():
    a = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    b = torch.tensor([[0.0, 1.0], [0.8, 0.6], [1.0, 0.0]])
    expected = torch.tensor([[0.0, 0.8, 1.0], [0.8, 0.96, 0.6]])
    assert torch.allclose(cosine_similarity(a, b), expected)


# --------------------------------------------------------------------------- WWW

# 2-D hand case: 3 images, 2 neurons (top-2 each), 3 concepts and the template
HAND_IMAGES = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=F64)
HAND_TOPK = torch.tensor([[0, 2], [1, 2]])
HAND_CONCEPTS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, -0.8]], dtype=F64)
HAND_TEMPLATE = torch.tensor([0.8, 0.6], dtype=F64)
# cosines image x (concept 0, 1, 2 | template):
#   v0: 1, 0, 0.6 | 0.8     v1: 0, 1, -0.8 | 0.6     v2: 0.6, 0.8, -0.28 | 0.96


def test_www_cosine_hand_case():
    # neuron 0 (v0, v2): means 0.8, 0.4, 0.16, template 0.88
    # neuron 1 (v1, v2): means 0.3, 0.9, -0.54, template 0.78
    expected = torch.tensor([[0.8 - 0.88, 0.4 - 0.88, 0.16 - 0.88],
                             [0.3 - 0.78, 0.9 - 0.78, -0.54 - 0.78]], dtype=F64)
    got = www_scores(HAND_IMAGES, HAND_TOPK, HAND_CONCEPTS, HAND_TEMPLATE)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_www_tvmf_hand_case():
    # kappa = 1: tvmf(c) = (1 + c) / (2 - c) - 1
    #   v0: 1, -1/2, 1/7 | 1/2     v1: -1/2, 1, -13/14 | 1/7     v2: 1/7, 1/2, -13/19 | 23/26
    tem0 = (1 / 2 + 23 / 26) / 2  # 9/13
    tem1 = (1 / 7 + 23 / 26) / 2  # 187/364
    expected = torch.tensor(
        [[(1 + 1 / 7) / 2 - tem0, (-1 / 2 + 1 / 2) / 2 - tem0, (1 / 7 - 13 / 19) / 2 - tem0],
         [(-1 / 2 + 1 / 7) / 2 - tem1, (1 + 1 / 2) / 2 - tem1, (-13 / 14 - 13 / 19) / 2 - tem1]],
        dtype=F64)
    assert expected[0, 0].item() == pytest.approx(4 / 7 - 9 / 13)
    assert expected[1, 2].item() == pytest.approx(-429 / 532 - 187 / 364)
    got = www_scores(HAND_IMAGES, HAND_TOPK, HAND_CONCEPTS, HAND_TEMPLATE, "tvmf", kappa=1.0)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def naive_www(images, topk, concepts, template, similarity="cosine", kappa=None):
    """Per-neuron loop, straight from the definition."""
    out = torch.empty(topk.shape[0], concepts.shape[0], dtype=images.dtype)
    for n in range(topk.shape[0]):
        v = images[topk[n]]
        sims, tem = v @ concepts.T, v @ template
        if similarity == "tvmf":
            sims, tem = tvmf_similarity(sims, kappa), tvmf_similarity(tem, kappa)
        out[n] = (sims - tem[:, None]).mean(dim=0)
    return out


@pytest.mark.parametrize("similarity,kappa", [("cosine", None), ("tvmf", 8.0), ("tvmf", 0.3)])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_www_matches_naive_loop(similarity, kappa, dtype):
    gen = torch.Generator().manual_seed(0)
    images, concepts = unit_rows(30, 16, gen, dtype), unit_rows(23, 16, gen, dtype)
    template = unit_rows(1, 16, gen, dtype)[0]
    topk = random_topk(9, 5, 30, gen)
    got = www_scores(images, topk, concepts, template, similarity, kappa=kappa)
    expected = naive_www(images, topk, concepts, template, similarity, kappa)
    tol = 1e-12 if dtype == F64 else 1e-5
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected, rtol=0, atol=tol)


def test_www_tvmf_kappa_zero_equals_cosine():
    gen = torch.Generator().manual_seed(1)
    images, concepts = unit_rows(40, 8, gen), unit_rows(17, 8, gen)
    template = unit_rows(1, 8, gen)[0]
    topk = random_topk(6, 4, 40, gen)
    cosine = www_scores(images, topk, concepts, template, "cosine")
    tvmf = www_scores(images, topk, concepts, template, "tvmf", kappa=0.0)
    torch.testing.assert_close(tvmf, cosine, rtol=0, atol=1e-12)


@pytest.mark.parametrize("similarity,kappa", [("cosine", None), ("tvmf", 8.0)])
def test_www_chunk_invariance(similarity, kappa):
    gen = torch.Generator().manual_seed(2)
    images, concepts = unit_rows(50, 12, gen, torch.float32), unit_rows(37, 12, gen,
                                                                         torch.float32)
    template = unit_rows(1, 12, gen, torch.float32)[0]
    topk = random_topk(11, 6, 50, gen)
    full = www_scores(images, topk, concepts, template, similarity, kappa=kappa)
    for concept_chunk, neuron_chunk in [(1, None), (5, 3), (36, 1), (100, 100), (None, 4)]:
        got = www_scores(images, topk, concepts, template, similarity, kappa=kappa,
                         concept_chunk=concept_chunk, neuron_chunk=neuron_chunk)
        torch.testing.assert_close(got, full, rtol=0, atol=1e-6)
    # a budget too small for more than one concept per block: same result
    tiny = www_scores(images, topk, concepts, template, similarity, kappa=kappa,
                      memory_budget=1)
    torch.testing.assert_close(tiny, full, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kappa", [8.0, 1.0, 0.0])
def test_www_tvmf_bfloat16_close_to_float32(kappa):
    # bfloat16 products (8-bit significand; cosines ~0.1 here): unrefined scores within
    # 5e-3 absolute of float32 (their spread is ~5e-2) and their selection may differ;
    # refined (default) the top concepts get float32 scores (sums of ~1 + tvmf rounded
    # in another order: within 1e-6) and the selection is float32's; chunking changes
    # nothing
    gen = torch.Generator().manual_seed(11)
    images, concepts = unit_rows(300, 64, gen, torch.float32), unit_rows(2000, 64, gen,
                                                                         torch.float32)
    template = unit_rows(1, 64, gen, torch.float32)[0]
    topk = random_topk(200, 10, 300, gen)
    full = www_scores(images, topk, concepts, template, "tvmf", kappa=kappa)
    raw = www_scores(images, topk, concepts, template, "tvmf", kappa=kappa,
                     precision="bfloat16", refine=0)
    assert raw.dtype == torch.float32
    torch.testing.assert_close(raw, full, rtol=0, atol=5e-3)
    bf16 = www_scores(images, topk, concepts, template, "tvmf", kappa=kappa,
                      precision="bfloat16")
    torch.testing.assert_close(bf16, full, rtol=0, atol=5e-3)
    selected = select_concepts(full, 0.95).mask
    assert torch.equal(select_concepts(bf16, 0.95).mask, selected)
    torch.testing.assert_close(bf16[selected], full[selected], rtol=0, atol=1e-6)
    assert torch.equal(topk_concepts(bf16, 1)[1], topk_concepts(full, 1)[1])
    chunked = www_scores(images, topk, concepts, template, "tvmf", kappa=kappa,
                         precision="bfloat16", concept_chunk=300, neuron_chunk=64,
                         memory_budget=1 << 16)
    torch.testing.assert_close(chunked, bf16, rtol=0, atol=1e-6)


def test_www_precision_checked():
    with pytest.raises(ValueError, match="precision"):
        www_scores(HAND_IMAGES, HAND_TOPK, HAND_CONCEPTS, HAND_TEMPLATE, "tvmf", kappa=1.0,
                   precision="float16")


def test_www_input_checks():
    with pytest.raises(ValueError, match="kappa"):
        www_scores(HAND_IMAGES, HAND_TOPK, HAND_CONCEPTS, HAND_TEMPLATE, "tvmf")
    with pytest.raises(ValueError, match="out of range"):
        www_scores(HAND_IMAGES, HAND_TOPK + 1, HAND_CONCEPTS, HAND_TEMPLATE)
    with pytest.raises(ValueError, match="similarity"):
        www_scores(HAND_IMAGES, HAND_TOPK, HAND_CONCEPTS, HAND_TEMPLATE, "dot")


# --------------------------------------------------------------------------- selection


def test_select_concepts_threshold_ties_and_weak():
    scores = torch.tensor([
        [2.0, 1.9, 1.0, 1.9],      # threshold 0.95 * 2 = 1.9: the ties at 1.9 are selected
        [0.5, 0.1, 0.475, 0.4],    # threshold 0.475 (tie selected)
        [-0.3, -0.1, -0.2, -0.1],  # max <= 0: weak, only the first best (index 1)
        [0.0, -1.0, 0.0, -2.0],    # max == 0: weak, index 0
    ])
    selection = select_concepts(scores, alpha=0.95)
    expected = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]],
                            dtype=torch.bool)
    assert torch.equal(selection.mask, expected)
    assert selection.weak.tolist() == [False, False, True, True]
    lists = selected_concept_lists(selection.mask, scores)
    assert [[c for c, _ in row] for row in lists] == [[0, 1, 3], [0, 2], [1], [0]]
    assert lists[0][1][1] == pytest.approx(1.9)
    assert lists[2] == [(1, pytest.approx(-0.1))]


def test_select_concepts_alpha_one_and_bad_alpha():
    scores = torch.tensor([[1.0, 3.0, 3.0, 2.0]])
    assert select_concepts(scores, alpha=1.0).mask.tolist() == [[False, True, True, False]]
    for alpha in (0.0, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            select_concepts(scores, alpha=alpha)


def test_topk_concepts_and_clamp():
    scores = torch.tensor([[0.1, 0.7, 0.3], [0.9, 0.2, 0.5]])
    values, indices = topk_concepts(scores, k=2)
    assert indices.tolist() == [[1, 2], [0, 2]]
    assert torch.allclose(values, torch.tensor([[0.7, 0.3], [0.9, 0.5]]))
    with pytest.warns(UserWarning, match="k=5 requested.*using k=3"):
        values, _ = topk_concepts(scores, k=5)
    assert values.shape == (2, 3)


# --------------------------------------------------------------------------- CLIP-Dissect
# Naive references: the per-neuron loops of CLIP-Dissect's similarity.py, transcribed
# (device moves, tqdm and cache clearing removed).  One change: the reference builds log(n)
# from ``torch.ones([1])`` (default dtype float32); here it has the inputs' dtype, so that
# float64 comparisons can be tight.


def ref_soft_wpmi(clip_feats, target_feats, top_k=100, a=10, lam=1, min_prob=1e-7,
                  p_start=0.998, p_end=0.97):
    clip_feats = torch.nn.functional.softmax(a * clip_feats, dim=1)
    inds = torch.topk(target_feats, dim=0, k=top_k)[1]
    prob_d_given_e = []
    p_in_examples = p_start - (torch.arange(start=0, end=top_k) / top_k
                               * (p_start - p_end)).unsqueeze(1)
    for orig_id in range(target_feats.shape[1]):
        curr_clip_feats = clip_feats.gather(
            0, inds[:, orig_id:orig_id + 1].expand(-1, clip_feats.shape[1]))
        curr_p_d_given_e = 1 + p_in_examples * (curr_clip_feats - 1)
        curr_p_d_given_e = torch.sum(torch.log(curr_p_d_given_e + min_prob), dim=0,
                                     keepdim=True)
        prob_d_given_e.append(curr_p_d_given_e)
    prob_d_given_e = torch.cat(prob_d_given_e, dim=0)
    prob_d = (torch.logsumexp(prob_d_given_e, dim=0, keepdim=True)
              - torch.log(prob_d_given_e.shape[0] * torch.ones([1], dtype=clip_feats.dtype)))
    return prob_d_given_e - lam * prob_d


def ref_wpmi(clip_feats, target_feats, top_k=28, a=2, lam=0.6, min_prob=1e-7):
    clip_feats = torch.nn.functional.softmax(a * clip_feats, dim=1)
    inds = torch.topk(target_feats, dim=0, k=top_k)[1]
    prob_d_given_e = []
    for orig_id in range(target_feats.shape[1]):
        curr_clip_feats = clip_feats.gather(
            0, inds[:, orig_id:orig_id + 1].expand(-1, clip_feats.shape[1]))
        curr_p_d_given_e = torch.sum(torch.log(curr_clip_feats + min_prob), dim=0,
                                     keepdim=True)
        prob_d_given_e.append(curr_p_d_given_e)
    prob_d_given_e = torch.cat(prob_d_given_e, dim=0)
    prob_d = (torch.logsumexp(prob_d_given_e, dim=0, keepdim=True)
              - torch.log(prob_d_given_e.shape[0] * torch.ones([1], dtype=clip_feats.dtype)))
    return prob_d_given_e - lam * prob_d


def ref_cos(clip_feats, target_feats):
    clip_feats = clip_feats / torch.norm(clip_feats, p=2, dim=0, keepdim=True)
    target_feats = target_feats / torch.norm(target_feats, p=2, dim=0, keepdim=True)
    return target_feats.T @ clip_feats


def ref_cos_cubed(clip_feats, target_feats, min_norm=1e-3):
    clip_feats = clip_feats - torch.mean(clip_feats, dim=0, keepdim=True)
    target_feats = target_feats - torch.mean(target_feats, dim=0, keepdim=True)
    clip_feats = clip_feats ** 3
    target_feats = target_feats ** 3
    clip_feats = clip_feats / torch.clip(torch.norm(clip_feats, p=2, dim=0, keepdim=True),
                                         min_norm)
    target_feats = target_feats / torch.clip(
        torch.norm(target_feats, p=2, dim=0, keepdim=True), min_norm)
    return target_feats.T @ clip_feats


def expected_baseline(sorted_target, p):
    """Exact expectation over random permutations of the reference's baseline_diff."""
    x = sorted_target[:, 0]
    total = sum(abs(x[i] - x[j]) ** p for i in range(len(x)) for j in range(len(x)))
    return total / len(x) ** 2


def random_baseline(sorted_target, p):
    """The reference's own baseline: 5 random permutations."""
    diff = sorted_target - torch.cat(
        [sorted_target[torch.randperm(len(sorted_target))] for _ in range(5)], dim=1)
    return torch.mean(torch.abs(diff) ** p)


def ref_rank_reorder(clip_feats, target_feats, p=3, top_fraction=0.05, scale_p=0.5,
                     baseline_fn=expected_baseline):
    """Reference rank_reorder; its random baseline is pluggable (default: expectation)."""
    batch = 1500
    errors = []
    top_n = int(target_feats.shape[0] * top_fraction)
    target_feats, inds = torch.topk(target_feats, dim=0, k=top_n)
    for orig_id in range(target_feats.shape[1]):
        clip_indices = clip_feats.gather(0, inds[:, orig_id:orig_id + 1].expand(
            [-1, clip_feats.shape[1]]))
        avg_clip = torch.mean(clip_indices, dim=0, keepdim=True)
        clip_indices = torch.argsort(clip_indices, dim=0)
        clip_indices = torch.argsort(clip_indices, dim=0)
        curr_errors = []
        target = target_feats[:, orig_id:orig_id + 1]
        sorted_target = torch.flip(target, dims=[0])
        baseline_diff = baseline_fn(sorted_target, p)
        for i in range(math.ceil(clip_indices.shape[1] / batch)):
            clip_id = clip_indices[:, i * batch:(i + 1) * batch]
            reorg = sorted_target.expand(-1, batch).gather(dim=0, index=clip_id)
            diff = target - reorg
            curr_errors.append(torch.mean(torch.abs(diff) ** p, dim=0, keepdim=True)
                               / baseline_diff)
        errors.append(torch.cat(curr_errors, dim=1) / avg_clip ** scale_p)
    return -torch.cat(errors, dim=0)


def clip_dissect_inputs(n_images=60, n_concepts=45, n_neurons=13, dtype=F64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images, texts = unit_rows(n_images, 8, gen, dtype), unit_rows(n_concepts, 8, gen, dtype)
    clip_feats = images @ texts.T
    target_feats = torch.randn(n_images, n_neurons, generator=gen, dtype=dtype)
    return clip_feats, target_feats


def test_wpmi_hand_case():
    # a = 1: image 0 -> softmax [1/4, 3/4], image 1 -> [3/4, 1/4]; neuron j fires on image j
    clip_feats = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]], dtype=F64)
    target_feats = torch.tensor([[5.0, 1.0], [2.0, 4.0]], dtype=F64)
    got = wpmi(clip_feats, target_feats, top_k=1, a=1, lam=1, min_prob=0)
    # log p(d|e) = [[log 1/4, log 3/4], [log 3/4, log 1/4]]; p(d) = mean over neurons = 1/2
    expected = torch.tensor([[math.log(0.5), math.log(1.5)],
                             [math.log(1.5), math.log(0.5)]], dtype=F64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # lam = 0.5: log p(d|e) - 0.5 log(1/2)
    half = wpmi(clip_feats, target_feats, top_k=1, a=1, lam=0.5, min_prob=0)
    expected_half = torch.tensor([[math.log(0.25), math.log(0.75)],
                                  [math.log(0.75), math.log(0.25)]], dtype=F64)
    expected_half -= 0.5 * math.log(0.5)
    torch.testing.assert_close(half, expected_half, rtol=0, atol=1e-12)


def test_soft_wpmi_hand_case():
    # top_k = 2, weights p_in = [p_start, p_start - (p_start - p_end) / 2] = [0.9, 0.7]
    clip_feats = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0], [0.0, 0.0]], dtype=F64)
    target_feats = torch.tensor([[5.0, 1.0], [2.0, 4.0], [1.0, 3.0]], dtype=F64)
    got = soft_wpmi(clip_feats, target_feats, top_k=2, a=1, lam=1, min_prob=0,
                    p_start=0.9, p_end=0.5)
    # neuron 0: images 0 then 1; neuron 1: images 1 then 2; p = [1/4,3/4],[3/4,1/4],[1/2,1/2]
    w0, w1 = 0.9, 0.7

    def term(w, prob):
        return math.log(1 + w * (prob - 1))

    ll = [[term(w0, 0.25) + term(w1, 0.75), term(w0, 0.75) + term(w1, 0.25)],
          [term(w0, 0.75) + term(w1, 0.5), term(w0, 0.25) + term(w1, 0.5)]]
    prob_d = [math.log((math.exp(ll[0][c]) + math.exp(ll[1][c])) / 2) for c in range(2)]
    expected = torch.tensor([[ll[n][c] - prob_d[c] for c in range(2)] for n in range(2)],
                            dtype=F64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)  # weights are float32


@pytest.mark.parametrize("kwargs", [{}, {"top_k": 7, "a": 3.0, "lam": 0.4, "min_prob": 1e-4,
                                         "p_start": 0.9, "p_end": 0.5}])
def test_soft_wpmi_matches_reference(kwargs):
    clip_feats, target_feats = clip_dissect_inputs(n_images=120)
    got = soft_wpmi(clip_feats, target_feats, **kwargs)
    expected = ref_soft_wpmi(clip_feats, target_feats, **kwargs)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    # float32 (the workflow's dtype): the reference's 1 + w (p - 1) loses digits to
    # cancellation, scoring.py does not, so compare at float32 precision of the sums
    c32, t32 = clip_feats.float(), target_feats.float()
    got32 = soft_wpmi(c32, t32, **kwargs)
    torch.testing.assert_close(got32, expected.float(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ref_soft_wpmi(c32, t32, **kwargs), expected.float(),
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kwargs", [{}, {"top_k": 5, "a": 10.0, "lam": 1.0, "min_prob": 0.0}])
def test_wpmi_matches_reference(kwargs):
    clip_feats, target_feats = clip_dissect_inputs()
    got = wpmi(clip_feats, target_feats, **kwargs)
    torch.testing.assert_close(got, ref_wpmi(clip_feats, target_feats, **kwargs),
                               rtol=1e-9, atol=1e-9)
    c32, t32 = clip_feats.float(), target_feats.float()
    torch.testing.assert_close(wpmi(c32, t32, **kwargs), ref_wpmi(c32, t32, **kwargs),
                               rtol=1e-5, atol=1e-4)


def test_soft_wpmi_tiny_factor_uses_single_rank_groups():
    # p_start = 1 and min_prob = 0: the first factor is p itself; still matches the reference
    clip_feats, target_feats = clip_dissect_inputs(n_images=40, n_concepts=9, n_neurons=4)
    kwargs = {"top_k": 6, "a": 5.0, "min_prob": 0.0, "p_start": 1.0, "p_end": 0.9}
    torch.testing.assert_close(soft_wpmi(clip_feats, target_feats, **kwargs),
                               ref_soft_wpmi(clip_feats, target_feats, **kwargs),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("fn", [soft_wpmi, wpmi])
def test_pmi_top_k_clamped_with_warning(fn):
    clip_feats, target_feats = clip_dissect_inputs(n_images=6, n_concepts=5, n_neurons=3)
    with pytest.warns(UserWarning, match="top_k=100 requested but there are only 6 images; "
                                         "using top_k=6"):
        got = fn(clip_feats, target_feats, top_k=100)
    assert got.shape == (3, 5)
    expected_fn = ref_soft_wpmi if fn is soft_wpmi else ref_wpmi
    torch.testing.assert_close(got, expected_fn(clip_feats, target_feats, top_k=6),
                               rtol=1e-9, atol=1e-9)


CLIP_DISSECT = [soft_wpmi, wpmi, cos_similarity, cos_similarity_cubed, rank_reorder]


@pytest.mark.parametrize("fn", CLIP_DISSECT)
def test_clip_dissect_chunk_invariance(fn):
    clip_feats, target_feats = clip_dissect_inputs(n_images=120, dtype=torch.float32, seed=3)
    clip_feats = clip_feats + 1.5  # positive mean clip values for rank_reorder's power
    full = fn(clip_feats, target_feats)
    for concept_chunk, neuron_chunk in [(1, 1), (4, 5), (44, 12), (100, None), (None, 2)]:
        got = fn(clip_feats, target_feats, concept_chunk=concept_chunk,
                 neuron_chunk=neuron_chunk)
        torch.testing.assert_close(got, full, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fn", CLIP_DISSECT)
def test_clip_dissect_memory_budget_invariance(fn):
    # float64: with a 1-byte budget every block is one concept wide, which also changes the
    # rounding of the per-image softmax normaliser (float32 would differ by a few ulp of
    # the ~-300 log-likelihood sums)
    clip_feats, target_feats = clip_dissect_inputs(n_images=120, seed=4)
    clip_feats = clip_feats + 1.5
    torch.testing.assert_close(fn(clip_feats, target_feats, memory_budget=1),
                               fn(clip_feats, target_feats), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("fn,ref", [(soft_wpmi, ref_soft_wpmi), (wpmi, ref_wpmi)])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_pmi_streamed_product_matches_dense(fn, ref, dtype):
    # the image-concept matrix streamed in blocks (a 1 KiB budget: one concept a block,
    # 301 blocks) against the dense matrix and the reference.  Tolerance: the
    # blocked products round like the whole one in float64 (1e-12); in float32 a cosine
    # may differ by an ulp (6e-8), which a = 10 and the sums over top_k ranks turn into
    # <= 1e-5 of the log-likelihoods (|scores| ~ 1-30)
    gen = torch.Generator().manual_seed(5)
    images, texts = unit_rows(90, 8, gen, dtype), unit_rows(301, 8, gen, dtype)
    target_feats = torch.randn(90, 11, generator=gen, dtype=dtype)
    dense = images @ texts.T
    product = ImageConceptProduct(images, texts)
    assert product.shape == (90, 301)
    streamed = fn(product, target_feats, top_k=20, memory_budget=1024)
    whole = fn(dense, target_feats, top_k=20)
    tol = {"rtol": 1e-12, "atol": 1e-10} if dtype == F64 else {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(streamed, whole, **tol)
    torch.testing.assert_close(streamed, ref(dense, target_feats, top_k=20),
                               **(tol if dtype == F64 else {"rtol": 1e-4, "atol": 1e-3}))
    # explicit small chunks and the default budget give the same result
    torch.testing.assert_close(fn(product, target_feats, top_k=20, concept_chunk=3,
                                  neuron_chunk=4), whole, **tol)


def test_image_concept_product_checks():
    gen = torch.Generator().manual_seed(0)
    images, texts = unit_rows(10, 8, gen), unit_rows(5, 4, gen)
    with pytest.raises(ValueError, match="embeddings"):
        soft_wpmi(ImageConceptProduct(images, texts), torch.randn(10, 3, dtype=F64))
    with pytest.raises(ValueError, match="dtypes differ"):
        soft_wpmi(ImageConceptProduct(images, unit_rows(5, 8, gen).float()),
                  torch.randn(10, 3, dtype=F64))
    with pytest.raises(ValueError, match="images"):
        soft_wpmi(ImageConceptProduct(images, unit_rows(5, 8, gen)),
                  torch.randn(9, 3, dtype=F64))


def test_cos_and_cos_cubed_match_reference():
    clip_feats, target_feats = clip_dissect_inputs()
    torch.testing.assert_close(cos_similarity(clip_feats, target_feats),
                               ref_cos(clip_feats, target_feats), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(cos_similarity_cubed(clip_feats, target_feats),
                               ref_cos_cubed(clip_feats, target_feats), rtol=1e-10, atol=1e-12)
    # small columns: min_norm clips the norm
    small = clip_feats * 1e-2
    torch.testing.assert_close(cos_similarity_cubed(small, target_feats, min_norm=0.5),
                               ref_cos_cubed(small, target_feats, min_norm=0.5),
                               rtol=1e-10, atol=1e-12)


def test_cos_hand_case():
    clip_feats = torch.tensor([[3.0, 1.0], [4.0, 1.0]], dtype=F64)
    target_feats = torch.tensor([[1.0], [0.0]], dtype=F64)
    # columns normalised: clip [0.6, 0.8], [1, 1]/sqrt 2; target [1, 0]
    expected = torch.tensor([[0.6, 1 / math.sqrt(2)]], dtype=F64)
    torch.testing.assert_close(cos_similarity(clip_feats, target_feats), expected)


def test_rank_reorder_matches_reference_with_expected_baseline():
    clip_feats, target_feats = clip_dissect_inputs(n_images=100, n_concepts=20)
    clip_feats = clip_feats + 0.5
    got = rank_reorder(clip_feats, target_feats, top_fraction=0.1)
    expected = ref_rank_reorder(clip_feats, target_feats, top_fraction=0.1)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    got = rank_reorder(clip_feats, target_feats, p=2, top_fraction=0.2, scale_p=1.0)
    expected = ref_rank_reorder(clip_feats, target_feats, p=2, top_fraction=0.2, scale_p=1.0)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_rank_reorder_sampled_baseline_only_rescales_neurons():
    clip_feats, target_feats = clip_dissect_inputs(n_images=100, n_concepts=20)
    clip_feats = clip_feats + 0.5
    torch.manual_seed(0)
    reference = ref_rank_reorder(clip_feats, target_feats, top_fraction=0.1,
                                 baseline_fn=random_baseline)
    sampled = rank_reorder(clip_feats, target_feats, top_fraction=0.1, baseline="sampled",
                           generator=torch.Generator().manual_seed(1))
    ratio = sampled / reference  # one positive constant per neuron
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-9, atol=0)
    assert (ratio > 0).all()


def test_rank_reorder_hand_case():
    # 4 images, top_fraction 0.5 -> top 2 images (activations 3 then 1), one neuron
    target_feats = torch.tensor([[3.0], [0.0], [1.0], [-1.0]], dtype=F64)
    # concept 0 ranks the two images like the neuron (error 0); concept 1 reverses them
    clip_feats = torch.tensor([[0.9, 0.1], [0.0, 0.0], [0.1, 0.9], [0.0, 0.0]], dtype=F64)
    got = rank_reorder(clip_feats, target_feats, p=3, top_fraction=0.5, scale_p=0.5)
    # baseline = mean over pairs |x_i - x_j|^3 = (0 + 8 + 8 + 0) / 4 = 4
    # concept 1: reordered [1, 3], errors |3-1|^3, |1-3|^3 -> mean 8 -> 8 / 4 / sqrt(0.5)
    expected = torch.tensor([[0.0, -2.0 / math.sqrt(0.5)]], dtype=F64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=">= 2 top images"):
        rank_reorder(clip_feats, target_feats, top_fraction=0.25)


def test_registry_names():
    assert set(CLIP_DISSECT_FUNCTIONS) == {"soft_wpmi", "wpmi", "cos", "cos_cubed",
                                           "rank_reorder"}
    assert CLIP_DISSECT_FUNCTIONS["cos_cubed"] is cos_similarity_cubed
