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
    extra: dict = field(default_factory=dict)


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
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


def train_target(images: np.ndarray, labels: np.ndarray, num_classes: int, cfg: TrainConfig,
                 log: Callable[[str], None] = print) -> tuple[nn.Module, list[dict]]:
    """Train the world ResNet-18 on uint8 ``images`` (n, h, w, 3) with int ``labels`` (n,)."""
    with _torch_threads(cfg.threads):
        return _train_target(images, labels, num_classes, cfg, log)


def _train_target(images: np.ndarray, labels: np.ndarray, num_classes: int, cfg: TrainConfig,
                  log: Callable[[str], None]) -> tuple[nn.Module, list[dict]]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build_world_target(num_classes).to(memory_format=torch.channels_last).train()
    opt = _optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels.astype(np.int64))
    history: list[dict] = []
    start, loss_sum, correct, seen = time.time(), 0.0, 0, 0
    for step in range(cfg.steps):
        idx = torch.randint(0, len(x_all), (cfg.batch_size,), generator=gen)
        x = normalize_images(_random_flips(x_all[idx], gen)).contiguous(memory_format=torch.channels_last)
        y = y_all[idx]
        with precision_context(cfg.precision, "cpu"):
            logits = model(x)
        loss = nn.functional.cross_entropy(logits.float(), y)
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
            loss_sum, correct, seen = 0.0, 0, 0
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


def train_clip(images: np.ndarray, captions: pd.DataFrame, cfg: TrainConfig,
               log: Callable[[str], None] = print) -> tuple[nn.Module, list[dict]]:
    """Train the world CLIP on uint8 ``images`` (n, h, w, 3) and their ``captions``.

    Each step embeds a batch of images once and contrasts it with every caption kind of
    those images (one open_clip contrastive loss per kind, averaged): the vision tower is
    the costly part on a CPU, the text tower is cheap, so every image gets its shape,
    color, texture and background captions at once.
    """
    with _torch_threads(cfg.threads):
        return _train_clip(images, captions, cfg, log)


def _train_clip(images: np.ndarray, captions: pd.DataFrame, cfg: TrainConfig,
                log: Callable[[str], None]) -> tuple[nn.Module, list[dict]]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = create_world_clip().train()
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
    for step in range(cfg.steps):
        idx = torch.randint(0, len(x_all), (cfg.batch_size,), generator=gen)
        caps = caption_ids[idx]  # (batch, kinds)
        unique, inverse = torch.unique(caps, return_inverse=True)
        x = clip_normalize(model, _random_flips(x_all[idx], gen))
        with precision_context(cfg.precision, "cpu"), _math_attention():
            image_features = model.encode_image(x, normalize=True).float()
            text_features = model.encode_text(tokens[unique], normalize=True).float()[inverse]  # (b, k, d)
        logit_scale = model.logit_scale.exp()
        loss = torch.stack([loss_fn(image_features, text_features[:, k], logit_scale, caps[:, k])
                            for k in range(caps.shape[1])]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
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
            loss_sum, seen = 0.0, 0
    return model.eval(), history


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
