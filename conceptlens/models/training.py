"""Deterministic CPU training of the world's target classifier and tiny CLIP.

Both read a generated train split (images, attributes, captions), train for a fixed
number of steps with a fixed seed on a fixed number of threads, and return the model
with a training log.  Same seed, threads and data give the same weights.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import open_clip
import pandas as pd
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from conceptlens.devices import precision_context
from conceptlens.models.clip import clip_normalize, create_world_clip
from conceptlens.models.target import build_world_target, normalize_images
from conceptlens.models.tokens import tokenize
from conceptlens.progress import progress


@dataclass
class TrainConfig:
    """Optimisation settings of one model."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.05
    warmup_steps: int = 100
    optimizer: str = "adamw"  # adamw | sgd (Nesterov momentum 0.9)
    seed: int = 0
    threads: int = 1
    precision: str = "autocast"  # autocast: bfloat16 forward passes (2x on AVX-512 CPUs) | float32
    log_every: int = 50
    crop_probability: float = 0.0  # share of images replaced by a random object crop
    min_crop: float = 0.4  # smallest crop side / image side
    logit_scale: float | None = None  # CLIP: fixed logit scale; None = learned, clamped at 100
    # Target: attribute -> loss weight of an auxiliary classification head on the pooled
    # layer4 features (training only; the saved model is the plain shape classifier).
    auxiliary: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        done = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))
    return factor


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or SGD with Nesterov momentum; no weight decay on norms and biases."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use adamw or sgd")


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads (training is deterministic per thread count), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _math_attention():
    """Plain (math) scaled-dot-product attention.

    PyTorch's CPU flash-attention backward is slow for the text tower's short sequences
    and 16-wide heads: it took 60% of a world-CLIP training step; the math kernel halves
    the step time.
    """
    return sdpa_kernel([SDPBackend.MATH])


def _random_flips(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips of (n, h, w, 3) images; every world label survives them."""
    n = x.shape[0]
    hflip = torch.rand(n, generator=gen) < 0.5
    return torch.where(hflip.view(n, 1, 1, 1), x.flip(2), x)


def object_crop_windows(main_boxes: torch.Tensor, size: int, probability: float,
                        min_crop: float, gen: torch.Generator) -> torch.Tensor:
    """(n, 4) float windows x0, y0, x1, y1 px of random square crops, each holding its
    whole main object (``main_boxes`` (n, 4) px): with ``probability`` a side drawn
    uniformly in [``min_crop``, 1] of ``size`` (raised to fit the object), placed
    uniformly among the positions that hold the object; else the whole image."""
    n = len(main_boxes)
    boxes = main_boxes.float()
    need = (boxes[:, 2:] - boxes[:, :2]).amax(1).clamp(max=size)
    side = torch.maximum(size * (min_crop + (1 - min_crop) * torch.rand(n, generator=gen)), need)
    crop = torch.rand(n, generator=gen) < probability
    side = torch.where(crop, side, torch.full_like(side, size))
    low = (boxes[:, 2:] - side[:, None]).clamp(min=0)  # (n, 2): x, y
    high = torch.minimum(boxes[:, :2], size - side[:, None]).clamp(min=0)
    start = low + (high - low).clamp(min=0) * torch.rand(n, 2, generator=gen)
    return torch.cat([start, start + side[:, None]], dim=1)


def resized_crops(images: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """uint8 (n, h, w, 3) ``images`` cropped to float ``windows`` (n, 4 px) and resized
    back to (h, w), bilinearly, in one batched ``grid_sample``."""
    n, h, w, _ = images.shape
    x = images.permute(0, 3, 1, 2).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = (windows[:, 2] - windows[:, 0]) / w
    theta[:, 1, 1] = (windows[:, 3] - windows[:, 1]) / h
    theta[:, 0, 2] = (windows[:, 0] + windows[:, 2]) / w - 1
    theta[:, 1, 2] = (windows[:, 1] + windows[:, 3]) / h - 1
    grid = nn.functional.affine_grid(theta, (n, 3, h, w), align_corners=False)
    out = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                    align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def _augmented(x: torch.Tensor, main_boxes: torch.Tensor | None, cfg: TrainConfig,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch with random object crops (when configured) and flips; the crop windows."""
    windows = None
    if main_boxes is not None and cfg.crop_probability > 0:
        windows = object_crop_windows(main_boxes, x.shape[2], cfg.crop_probability,
                                      cfg.min_crop, gen)
        x = resized_crops(x, windows)
    return _random_flips(x, gen), windows


def train_target(images: np.ndarray, labels: np.ndarray, num_classes: int, cfg: TrainConfig,
                 log: Callable[[str], None] = print, main_boxes: np.ndarray | None = None,
                 auxiliary_labels: dict[str, np.ndarray] | None = None
                 ) -> tuple[nn.Module, list[dict]]:
    """Train the world ResNet-18 on uint8 ``images`` (n, h, w, 3) with int ``labels`` (n,);
    ``main_boxes`` (n, 4) px, the main objects' boxes, for the crop augmentation;
    ``auxiliary_labels``: attribute -> int labels (n,) of the heads ``cfg.auxiliary``
    weights (every attribute there needs labels here)."""
    missing = sorted(set(cfg.auxiliary) - set(auxiliary_labels or {}))
    if missing:
        raise ValueError(f"auxiliary heads {missing} have no labels")
    with _torch_threads(cfg.threads):
        return _train_target(images, labels, num_classes, cfg, log, main_boxes,
                             {a: auxiliary_labels[a] for a in cfg.auxiliary})


class AuxiliaryHeads(nn.Module):
    """Linear heads on the target's pooled ``layer4`` features (read by a hook on its
    ``avgpool``), one an auxiliary attribute; their cross-entropies are added to the
    shape loss with the configured weights, so that ``layer4`` must encode them too."""

    def __init__(self, model: nn.Module, sizes: dict[str, int]):
        super().__init__()
        self.heads = nn.ModuleDict({a: nn.Linear(model.fc.in_features, n) for a, n in sizes.items()})
        self._features: torch.Tensor | None = None
        self._hook = model.avgpool.register_forward_hook(self._keep)

    def detach(self) -> None:
        """Remove the hook from the target (after training)."""
        self._hook.remove()

    def _keep(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        self._features = output.flatten(1)

    def loss(self, labels: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
        """Weighted sum of the heads' cross-entropies on the last forward pass's features."""
        return sum(weights[a] * nn.functional.cross_entropy(head(self._features.float()), labels[a])
                   for a, head in self.heads.items())


def _train_target(images: np.ndarray, labels: np.ndarray, num_classes: int, cfg: TrainConfig,
                  log: Callable[[str], None], main_boxes: np.ndarray | None = None,
                  auxiliary_labels: dict[str, np.ndarray] | None = None
                  ) -> tuple[nn.Module, list[dict]]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build_world_target(num_classes).to(memory_format=torch.channels_last).train()
    aux_all = {a: torch.from_numpy(np.asarray(y, dtype=np.int64))
               for a, y in (auxiliary_labels or {}).items()}
    heads = AuxiliaryHeads(model, {a: int(y.max()) + 1 for a, y in aux_all.items()}) \
        if aux_all else None
    opt = _optimizer(model if heads is None else nn.ModuleList([model, heads]), cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels.astype(np.int64))
    boxes_all = None if main_boxes is None else torch.from_numpy(np.asarray(main_boxes))
    history: list[dict] = []
    start, loss_sum, correct, seen = time.time(), 0.0, 0, 0
    steps = progress(range(cfg.steps), desc="world target training", unit="steps")
    for step in steps:
        idx = torch.randint(0, len(x_all), (cfg.batch_size,), generator=gen)
        x, _ = _augmented(x_all[idx], None if boxes_all is None else boxes_all[idx], cfg, gen)
        x = normalize_images(x).contiguous(memory_format=torch.channels_last)
        y = y_all[idx]
        with precision_context(cfg.precision, "cpu"):
            logits = model(x)
        loss = nn.functional.cross_entropy(logits.float(), y)
        if heads is not None:
            loss = loss + heads.loss({a: v[idx] for a, v in aux_all.items()}, cfg.auxiliary)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            entry = {"step": step + 1, "loss": loss_sum / seen, "train_acc": correct / seen,
                     "seconds": time.time() - start}
            history.append(entry)
            log(f"target step {entry['step']}/{cfg.steps} loss {entry['loss']:.4f} "
                f"acc {entry['train_acc']:.3f} {entry['seconds']:.0f}s")
            steps.set_postfix(loss=f"{entry['loss']:.4f}", acc=f"{entry['train_acc']:.3f}")
            loss_sum, correct, seen = 0.0, 0, 0
    if heads is not None:
        heads.detach()
    return model.eval().to(memory_format=torch.contiguous_format), history


class MultiPositiveClipLoss(open_clip.ClipLoss):
    """open_clip's contrastive loss, with identical captions in a batch as positives.

    Short captions such as "a star" recur many times in a batch; the plain loss would
    push those images away from their own caption.  Targets are spread uniformly over all
    batch entries that share the caption id.
    """

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor,
                logit_scale: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        same = (caption_ids[:, None] == caption_ids[None, :]).float()
        targets = same / same.sum(dim=1, keepdim=True)
        return 0.5 * (nn.functional.cross_entropy(logits_per_image, targets)
                      + nn.functional.cross_entropy(logits_per_text, targets))


def tokenize_captions(captions: pd.DataFrame, n_images: int, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique caption tokens (u, ctx) and each image's caption ids (n_images, kinds)."""
    kinds = sorted(captions["kind"].unique())
    unique = sorted(captions["caption"].unique())
    index = {c: i for i, c in enumerate(unique)}
    table = captions.pivot(index="image_id", columns="kind", values="caption").reindex(
        index=range(n_images), columns=kinds)
    if table.isna().any().any():
        raise ValueError("captions table lacks a caption kind for some images")
    ids = np.vectorize(index.__getitem__)(table.to_numpy())
    return tokenize(tokenizer, unique), torch.from_numpy(ids.astype(np.int64))


#: the caption kind that names the first distractor (dropped for crops that cut it off)
DISTRACTOR_KIND = "with_distractor"


def train_clip(images: np.ndarray, captions: pd.DataFrame, cfg: TrainConfig,
               log: Callable[[str], None] = print, main_boxes: np.ndarray | None = None,
               distractor_boxes: np.ndarray | None = None) -> tuple[nn.Module, list[dict]]:
    """Train the world CLIP on uint8 ``images`` (n, h, w, 3) and their ``captions``.

    Each step embeds a batch of images once and contrasts it with every caption kind of
    those images (one open_clip contrastive loss per kind, averaged): the vision tower is
    the costly part on a CPU, the text tower is cheap, so every image gets its shape,
    color, texture and background captions at once.  ``main_boxes`` and
    ``distractor_boxes`` (n, 4) px (the first distractor's; -1 where none) drive the crop
    augmentation: a crop that leaves out the distractor's centre leaves the caption that
    names it out of that step's loss.
    """
    with _torch_threads(cfg.threads):
        return _train_clip(images, captions, cfg, log, main_boxes, distractor_boxes)


def _distractor_visible(windows: torch.Tensor | None, boxes: torch.Tensor | None
                        ) -> torch.Tensor | None:
    """(n,) bool: the distractor's centre lies in the crop window (True without one)."""
    if windows is None or boxes is None:
        return None
    centre = (boxes[:, :2] + boxes[:, 2:]).float() / 2
    inside = ((centre >= windows[:, :2]) & (centre < windows[:, 2:])).all(1)
    return inside | (boxes[:, 0] < 0)


def _train_clip(images: np.ndarray, captions: pd.DataFrame, cfg: TrainConfig,
                log: Callable[[str], None], main_boxes: np.ndarray | None = None,
                distractor_boxes: np.ndarray | None = None) -> tuple[nn.Module, list[dict]]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = create_world_clip().train()
    if cfg.logit_scale is not None:  # fixed, as OpenAI CLIP's at the end of training
        with torch.no_grad():
            model.logit_scale.fill_(math.log(cfg.logit_scale))
        model.logit_scale.requires_grad_(False)
    kinds = sorted(captions["kind"].unique())
    distractor_kind = kinds.index(DISTRACTOR_KIND) if DISTRACTOR_KIND in kinds else None
    boxes_all = None if main_boxes is None else torch.from_numpy(np.asarray(main_boxes))
    distractors_all = (None if distractor_boxes is None
                       else torch.from_numpy(np.asarray(distractor_boxes)))
    tokenizer = open_clip.get_tokenizer("conceptlens-world-clip")
    tokens, caption_ids = tokenize_captions(captions, len(images), tokenizer)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    loss_fn = MultiPositiveClipLoss()
    x_all = torch.from_numpy(images)
    history: list[dict] = []
    start, loss_sum, seen = time.time(), 0.0, 0
    steps = progress(range(cfg.steps), desc="world clip training", unit="steps")
    for step in steps:
        idx = torch.randint(0, len(x_all), (cfg.batch_size,), generator=gen)
        caps = caption_ids[idx]  # (batch, kinds)
        unique, inverse = torch.unique(caps, return_inverse=True)
        x, windows = _augmented(x_all[idx], None if boxes_all is None else boxes_all[idx],
                                cfg, gen)
        visible = _distractor_visible(
            windows, None if distractors_all is None else distractors_all[idx])
        x = clip_normalize(model, x)
        with precision_context(cfg.precision, "cpu"), _math_attention():
            image_features = model.encode_image(x, normalize=True).float()
            text_features = model.encode_text(tokens[unique], normalize=True).float()[inverse]  # (b, k, d)
        logit_scale = model.logit_scale.exp()
        losses = []
        for k in range(caps.shape[1]):
            rows = (visible if k == distractor_kind and visible is not None
                    else slice(None))
            losses.append(loss_fn(image_features[rows], text_features[rows, k], logit_scale,
                                  caps[rows, k]))
        loss = torch.stack(losses).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if cfg.logit_scale is None:
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
        loss_sum += loss.item()
        seen += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            entry = {"step": step + 1, "loss": loss_sum / seen,
                     "logit_scale": float(model.logit_scale.detach().exp()), "seconds": time.time() - start}
            history.append(entry)
            log(f"clip step {entry['step']}/{cfg.steps} loss {entry['loss']:.4f} "
                f"scale {entry['logit_scale']:.1f} {entry['seconds']:.0f}s")
            steps.set_postfix(loss=f"{entry['loss']:.4f}")
            loss_sum, seen = 0.0, 0
    return model.eval(), history


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
