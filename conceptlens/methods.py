"""Method families: the registry of how a named method describes neurons.

A method is a named config entry (``methods.<name>``): a family, a view of the probe
images, a CLIP model, a prompt template and the family's own settings.  Each
:class:`Family` declares its config keys and defaults, the per-layer file of the target's
pass it reads (``topk``: each neuron's top-k images on its view; ``activations``: every
probe image's activations, so its CLIP image set is the whole probe set), how it scores
concepts and how it selects them.  The workflow's rules, the describe stage and
``conceptlens describe`` ask this module; none of them branches on a family's name, so a
new family is one :func:`register_family` call (in a module named by the environment
variable ``CONCEPTLENS_FAMILIES``, for families outside this package).

* ``www``: WWW (Ahn et al., CVPR 2024) and Grad-CAM + t-vMF (Sannomiya & Hotta): the
  mean similarity of each neuron's top-k images to each concept, minus the template's;
  concepts above ``alpha`` times the best are kept.
* ``clip_dissect``: CLIP-Dissect (Oikarinen & Weng, ICLR 2023): a similarity function
  between the neurons' activations and the images' CLIP similarity to each concept, over
  the whole probe set; the best concept is kept.

Importing this module does not import torch (the workflow reads it at parse time).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

#: keys every method has, whatever its family
COMMON_KEYS = ("family", "view", "clip_model", "template")
COMMON_DEFAULTS: dict[str, Any] = {"clip_model": "world"}
#: environment variable naming modules (comma-separated) that register more families
PLUGINS_VARIABLE = "CONCEPTLENS_FAMILIES"
#: the t-vMF concentration of Sannomiya & Hotta, the www family's default and the tie-break
#: of the kappa sweep (:mod:`conceptlens.tuning`)
PAPER_KAPPA = 1.0
#: ``kappa: tuned``: the kappa chosen on the world's tuning split (rule tune_kappa)
TUNED = "tuned"


@dataclass(frozen=True)
class LayerInputs:
    """What a method scores on one layer.

    image_ids: (n,) probe ids of the embedded images; image_emb: (n, d) their CLIP
    embeddings; text_emb: (m, d) the concepts' prompt embeddings; template_emb: (d,) the
    template alone.  ``topk``: (n_neurons, k) probe ids of each neuron's top images (families
    that read ``topk``); ``activations``: (n_images, n_neurons) of every probe image, with
    ``image_ids`` = 0..n_images-1 (families that read ``activations``).
    """

    image_ids: np.ndarray
    image_emb: torch.Tensor
    text_emb: torch.Tensor
    template_emb: torch.Tensor
    topk: np.ndarray | None = None
    activations: np.ndarray | None = None


@dataclass
class MethodScores:
    """One method's scores on one layer: (n_neurons, n_concepts) ``scores`` (NaN -> -inf),
    bool ``selected`` of the same shape, bool (n_neurons,) ``weak`` (None where the family
    has no such notion) and ``n_nan``, how many scores were NaN."""

    scores: torch.Tensor
    selected: torch.Tensor
    weak: torch.Tensor | None
    n_nan: int = 0


@dataclass(frozen=True)
class Family:
    """A method family.

    ``keys``: config keys of its methods beyond :data:`COMMON_KEYS`; ``defaults``: their
    defaults; ``required``: keys without a default; ``derived``: more defaults computed
    from the given settings (e.g. a function's own ``top_k``).  ``reads``: the per-layer
    file of the target's pass it scores.  ``score``: (settings, :class:`LayerInputs`) ->
    :class:`MethodScores`.  ``topk_size``: the top-k set it needs recorded on its view
    (0: none).  ``options``: ``conceptlens describe`` option (``k``, ``alpha``, ``kappa``)
    -> the settings key it sets for these settings, or None where it does not apply.
    """

    name: str
    description: str
    keys: tuple[str, ...]
    reads: Literal["topk", "activations"]
    score: Callable[[Mapping[str, Any], LayerInputs], MethodScores]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    derived: Callable[[Mapping[str, Any]], Mapping[str, Any]] = lambda settings: {}
    topk_size: Callable[[Mapping[str, Any]], int] = lambda settings: 0
    options: Callable[[str, Mapping[str, Any]], str | None] = lambda option, settings: None
    fit: Callable[[Mapping[str, Any], int], tuple[dict[str, Any], list[str]]] = (
        lambda settings, n_images: (dict(settings), []))

    @property
    def all_keys(self) -> tuple[str, ...]:
        return (*COMMON_KEYS, *self.keys)


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to the registry (a name already taken is an error)."""
    if family.name in FAMILIES and FAMILIES[family.name] is not family:
        raise ValueError(f"method family {family.name!r} is registered already")
    FAMILIES[family.name] = family
    return family


def family_of(settings: Mapping[str, Any], where: str = "methods") -> Family:
    """The family of a method's settings; an unknown one is an error naming the key."""
    _load_plugins()
    name = settings.get("family")
    if name not in FAMILIES:
        from conceptlens.config import ConfigError

        raise ConfigError(f"config key {where}.family: {name!r} is not a method family "
                          f"(valid: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def method_settings(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every configured method (``config["methods"]``) with its family's defaults filled in.

    Raises :class:`conceptlens.config.ConfigError` naming the key for an unknown family, a
    key that does not belong to the method's family, or a missing required key.
    """
    from conceptlens.config import ConfigError

    methods = {}
    for name, given in (config.get("methods") or {}).items():
        family = family_of(given, f"methods.{name}")
        extra = set(given) - set(family.all_keys)
        if extra:
            raise ConfigError(f"config key methods.{name}: {', '.join(sorted(extra))} not "
                              f"valid for family {family.name!r} (valid: "
                              f"{', '.join(sorted(family.all_keys))})")
        for key in family.required:
            if key not in given:
                raise ConfigError(f"config key methods.{name}.{key} is required for family "
                                  f"{family.name!r}")
        settings = {**COMMON_DEFAULTS, **family.defaults, **given}
        methods[name] = {**settings, **{k: v for k, v in family.derived(settings).items()
                                        if k not in given}}
    return methods


def is_tuned(settings: Mapping[str, Any]) -> bool:
    """Whether a method's kappa is chosen on the tuning split (``kappa: tuned``)."""
    return settings.get("kappa") == TUNED


def image_set(settings: Mapping[str, Any]) -> str:
    """The CLIP image set a method reads, ``<view>.<subset>``: its view's top-k images
    (``topk``) or the whole probe set (``all``)."""
    subset = "topk" if family_of(settings).reads == "topk" else "all"
    return f"{settings['view']}.{subset}"


def reads(settings: Mapping[str, Any]) -> str:
    """The per-layer file of the target's pass a method scores: ``topk`` or
    ``activations`` (``<reads>/<view>/<layer>.npz``)."""
    return family_of(settings).reads


def topk_size(settings: Mapping[str, Any]) -> int:
    """The top-k set a method needs on its view (0: none)."""
    return int(family_of(settings).topk_size(settings))


def option_key(option: str, settings: Mapping[str, Any]) -> str | None:
    """The settings key a ``conceptlens describe`` option sets for a method (None: the
    option does not apply to it)."""
    return family_of(settings).options(option, settings)


def fit_to_probe(methods: Mapping[str, Mapping[str, Any]], n_images: int
                 ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The methods' settings fitted to a probe set of ``n_images``: the one rule of the
    workflow and ``conceptlens describe`` for image counts larger than the set (WWW's
    ``k``, CLIP-Dissect's ``top_k``, rank-reorder's ``top_fraction``): each is lowered
    to what the set holds, and each change is one sentence naming the key (for the log
    and the report)."""
    fitted, notes = {}, []
    for name, settings in methods.items():
        fitted[name], changes = family_of(settings, f"methods.{name}").fit(settings, n_images)
        notes += [f"methods.{name}.{change}" for change in changes]
    return fitted, notes


def _lowered(settings: Mapping[str, Any], key: str, n_images: int) -> tuple[dict, list[str]]:
    if key not in settings or settings[key] <= n_images:
        return dict(settings), []
    return ({**settings, key: n_images},
            [f"{key} = {settings[key]} is more than the {n_images} probe images: "
             f"lowered to {n_images}"])


def _rank_reorder_fit(settings: Mapping[str, Any], n_images: int) -> tuple[dict, list[str]]:
    """rank_reorder needs at least 2 top images per neuron: ``top_fraction`` is raised to
    2 / n_images where int(n_images * top_fraction) < 2."""
    fitted, notes = _lowered(settings, "top_k", n_images)
    fraction = fitted.get("top_fraction")
    if fitted.get("function") == "rank_reorder" and fraction is not None and n_images >= 2 \
            and int(n_images * fraction) < 2:
        raised = min(1.0, 2.0 / n_images + 1e-9)
        fitted["top_fraction"] = raised
        notes.append(f"top_fraction = {fraction} keeps fewer than 2 of the {n_images} probe "
                     f"images: raised to {raised:.4g}")
    return fitted, notes


def score(settings: Mapping[str, Any], inputs: LayerInputs) -> MethodScores:
    """Scores and selection of a method on one layer."""
    return family_of(settings).score(settings, inputs)


def _load_plugins() -> None:
    """Import the modules named by :data:`PLUGINS_VARIABLE` (once each)."""
    for module in filter(None, os.environ.get(PLUGINS_VARIABLE, "").split(",")):
        importlib.import_module(module.strip())


# ------------------------------------------------------------------------ the families


def top1_selection(scores: torch.Tensor) -> torch.Tensor:
    """Bool (n_neurons, n_concepts) selecting each neuron's best concept only."""
    import torch

    selected = torch.zeros_like(scores, dtype=torch.bool)
    selected[torch.arange(len(scores)), scores.argmax(dim=1)] = True
    return selected


def rows_of(image_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``image_ids`` of each id in ``wanted`` (any shape); missing ids are an
    error."""
    order = np.argsort(image_ids)
    pos = np.searchsorted(image_ids, wanted, sorter=order)
    pos = np.clip(pos, 0, len(image_ids) - 1)
    rows = order[pos]
    if not np.array_equal(image_ids[rows], wanted):
        raise ValueError("some images of the top-k sets have no embedding")
    return rows


def _www_score(settings: Mapping[str, Any], inputs: LayerInputs) -> MethodScores:
    import torch

    from conceptlens.scoring import select_concepts, www_scores

    if inputs.topk is None:
        raise ValueError("the www family scores each neuron's top-k images: no top-k given")
    if is_tuned(settings):
        raise ValueError("kappa 'tuned' is not resolved: it is read from the tuning job's "
                         "tuning/kappa.json (conceptlens.tuning.resolve_kappa)")
    rows = torch.from_numpy(rows_of(inputs.image_ids, inputs.topk))
    scores = www_scores(inputs.image_emb, rows, inputs.text_emb, inputs.template_emb,
                        similarity=settings["similarity"], kappa=settings.get("kappa", 0.0))
    selected, weak = select_concepts(scores, settings["alpha"])
    return MethodScores(scores, selected, weak)


def _www_option(option: str, settings: Mapping[str, Any]) -> str | None:
    if option == "kappa":
        return "kappa" if settings.get("similarity") == "tvmf" else None
    return option if option in ("k", "alpha") else None


#: CLIP-Dissect functions that take ``top_k``, with the reference code's default
CLIP_DISSECT_TOP_K = {"soft_wpmi": 100, "wpmi": 28}
#: rank_reorder's default fraction of top images (the reference code's)
RANK_REORDER_TOP_FRACTION = 0.05


def _clip_dissect_score(settings: Mapping[str, Any], inputs: LayerInputs) -> MethodScores:
    import torch

    from conceptlens.scoring import CLIP_DISSECT_FUNCTIONS, canonical_order

    activations = inputs.activations
    if activations is None:
        raise ValueError("the clip_dissect family scores activations: none given")
    if not np.array_equal(inputs.image_ids, np.arange(len(activations))):
        raise ValueError("CLIP-Dissect needs the embedding of every probe image")
    clip_feats = inputs.image_emb @ inputs.text_emb.T
    target_feats = torch.from_numpy(activations)
    # Tied activations (ReLU zeros, float16) would make top-k sets depend on the probe
    # order; scoring the images in an order fixed by their content makes them not.
    order = canonical_order(clip_feats, target_feats)
    kwargs = {key: settings[key] for key in ("top_k", "top_fraction") if key in settings}
    scores = CLIP_DISSECT_FUNCTIONS[settings["function"]](clip_feats[order],
                                                          target_feats[order], **kwargs)
    n_nan = int(torch.isnan(scores).sum())
    # NaN: e.g. rank_reorder on negative CLIP similarities, as in the reference code
    scores = torch.nan_to_num(scores, nan=float("-inf")) if n_nan else scores
    return MethodScores(scores, top1_selection(scores), None, n_nan)


register_family(Family(
    name="www",
    description="WWW / Grad-CAM + t-vMF: top-k images of each neuron against the concepts",
    keys=("similarity", "kappa", "k", "alpha"),
    defaults={"k": 40, "alpha": 0.95, "kappa": PAPER_KAPPA},
    required=("similarity",),
    reads="topk",
    score=_www_score,
    topk_size=lambda settings: settings["k"],
    options=_www_option,
    fit=lambda settings, n_images: _lowered(settings, "k", n_images),
))

register_family(Family(
    name="clip_dissect",
    description="CLIP-Dissect: a similarity function over the whole probe set",
    keys=("function", "top_k", "top_fraction"),
    required=("function",),
    derived=lambda settings: ({"top_k": CLIP_DISSECT_TOP_K[settings["function"]]}
                              if settings["function"] in CLIP_DISSECT_TOP_K
                              else {"top_fraction": RANK_REORDER_TOP_FRACTION}
                              if settings["function"] == "rank_reorder" else {}),
    fit=_rank_reorder_fit,
    reads="activations",
    score=_clip_dissect_score,
    options=lambda option, settings: (
        "top_k" if option == "k" and settings.get("function") in CLIP_DISSECT_TOP_K else None),
))
