"""CLIP text tokens, with one warning per call for the texts the context length cuts.

open_clip's tokenizers cut a text longer than the model's context (77 tokens for hub
CLIPs, 24 for the world CLIP) without a word; :func:`tokenize_batches` says how many
were cut and which was longest. Every text embedding goes through it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch

LOG = logging.getLogger("conceptlens.models.clip")
EXAMPLE_CHARS = 60


def token_lengths(tokenizer, texts: list[str], pad: int) -> torch.Tensor:
    """Untruncated token counts of ``texts`` (start and end tokens included)."""
    if not texts:
        return torch.zeros(0, dtype=torch.long)
    # a byte-level BPE token covers at least one UTF-8 byte (more room for other kinds)
    room = 2 * max(len(t.encode()) for t in texts) + 8
    tokens = tokenizer(texts, context_length=room)
    positions = torch.arange(1, tokens.shape[1] + 1).expand_as(tokens)
    return torch.where(tokens != pad, positions, 0).amax(dim=1)


def cut_texts(tokenizer, texts: list[str], tokens: torch.Tensor, pad: int
              ) -> dict[int, int]:
    """Index -> full token count of each of ``texts`` that ``tokens`` (their tokens at
    the context length) cut; only rows without padding are tokenised again."""
    full = (tokens[:, -1] != pad).nonzero().flatten().tolist()
    lengths = token_lengths(tokenizer, [texts[i] for i in full], pad).tolist()
    return {i: n for i, n in zip(full, lengths) if n > tokens.shape[1]}


def cut_message(texts: list[str], cut: dict[int, int], context_length: int) -> str:
    """One line: how many of ``texts`` were cut, and the longest of them (shortened)."""
    longest = max(cut, key=cut.__getitem__)
    example = texts[longest]
    if len(example) > EXAMPLE_CHARS:
        example = example[:EXAMPLE_CHARS - 3] + "..."
    return (f"{len(cut)} of {len(texts)} texts are longer than CLIP's {context_length} "
            f"tokens and were cut, e.g. '{example}' ({cut[longest]} tokens)")


def tokenize_batches(tokenizer, texts: list[str], batch_size: int = 512
                     ) -> Iterator[torch.Tensor]:
    """Tokens of ``texts`` at the tokenizer's context length, ``batch_size`` rows at a
    time; after the last batch, one warning (logging) if any text was cut."""
    pad = int(tokenizer([""])[0, -1])
    cut: dict[int, int] = {}
    context_length = 0
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        tokens = tokenizer(batch)
        context_length = tokens.shape[1]
        cut.update({start + i: n for i, n in cut_texts(tokenizer, batch, tokens, pad).items()})
        yield tokens
    if cut:
        LOG.warning(cut_message(texts, cut, context_length))


def tokenize(tokenizer, texts: list[str]) -> torch.Tensor:
    """All tokens of ``texts`` (len(texts), context length), warning as
    :func:`tokenize_batches` does."""
    batches = list(tokenize_batches(tokenizer, texts, max(1, len(texts))))
    return torch.cat(batches) if batches else tokenizer(texts)
