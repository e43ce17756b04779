"""Decoding strategies: greedy, sampling (pure, temperature, top-k, nucleus)
and beam search, over any :class:`~genbench_text.sessions.Session`.

Every strategy continues each row's prompt by exactly ``length`` tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from genbench_text.sessions import Session
from genbench_text.streams import RowStreams

STRATEGIES: tuple[str, ...] = ("greedy", "sample", "beam", "speculative")


@dataclass(frozen=True)
class Decoding:
    """One decoding configuration.

    Attributes:
        strategy: ``greedy``, ``sample``, ``beam`` or ``speculative``.
        temperature: divides the logits before sampling (``sample``,
            ``speculative``); 1 is the model's own distribution.
        top_k: keep only the ``top_k`` most probable tokens (0 = all).
        top_p: nucleus: keep the smallest set of most probable tokens whose
            probability reaches ``top_p`` (1 = all).
        beam_width: beams kept by ``beam``.
        lookahead: draft tokens proposed per target call (``speculative``).
        draft: the draft model of ``speculative``: ``"ngram"`` or
            ``"transformer"``.
    """

    strategy: str
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    beam_width: int = 1
    lookahead: int = 4
    draft: str = "ngram"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown decoding strategy {self.strategy!r}; choose one of {list(STRATEGIES)}"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 keeps all tokens), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.beam_width < 1:
            raise ValueError(f"beam_width must be >= 1, got {self.beam_width}")
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")
        if self.draft not in ("ngram", "transformer"):
            raise ValueError(f"draft must be 'ngram' or 'transformer', got {self.draft!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Decoding:
        """Build from a model spec's ``options["decoding"]`` mapping."""
        return cls(**dict(options))


def filter_log_probs(
    log_probs: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> torch.Tensor:
    """The sampling distribution after temperature, top-k and nucleus
    filtering, as normalised log-probabilities (removed tokens get -inf).

    Nucleus keeps, in order of decreasing probability, every token whose
    preceding cumulative probability is below ``top_p`` (so at least one).
    """
    scores = log_probs / temperature if temperature != 1.0 else log_probs  # x / 1 == x
    if top_k and top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, -math.inf)
    if top_p < 1.0:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, -math.inf)
    return torch.log_softmax(scores, dim=-1)


def sample_categorical(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw from each row of ``probs`` (``(B, V)``, non-negative, each
    row with positive mass; need not sum to one), as ``(B,)`` ids.

    Exponential race: with ``E_v ~ Exp(1)`` independent,
    ``argmax_v probs[v] / E_v`` is ``v`` with probability proportional to
    ``probs[v]``. This is the algorithm ``torch.multinomial`` runs for a
    single draw, so it consumes ``generator`` identically and returns the
    same ids; it skips multinomial's validation passes over ``probs``,
    which at batch 1 cost about twice the draw itself.
    """
    race = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return (probs / race).argmax(dim=-1)


def generate(
    session: Session,
    prompts: torch.Tensor,
    length: int,
    decoding: Decoding,
    streams: RowStreams | None = None,
) -> torch.Tensor:
    """Continue each row of ``prompts`` (``(B, P)`` ids) by ``length`` tokens,
    all rows at once (one batched model call per token, KV-cached).

    Args:
        session: an empty session of ``B`` rows.
        decoding: ``greedy``, ``sample`` or ``beam`` (speculative decoding is
            :func:`genbench_text.speculative.speculative_generate`).
        streams: ``B`` random streams, row ``b`` drawing only from stream
            ``b`` (so a row's tokens do not depend on the batch); required
            by ``sample``.

    Returns:
        ``(B, length)`` generated ids (prompt excluded).
    """
    if decoding.strategy == "beam":
        return beam_search(session, prompts, length, decoding.beam_width)
    if decoding.strategy not in ("greedy", "sample"):
        raise ValueError(f"generate cannot run strategy {decoding.strategy!r}")
    if decoding.strategy == "sample" and streams is None:
        raise ValueError("sampling needs one random stream per row")
    log_probs = session.feed(prompts)[:, -1]
    out = torch.empty(len(prompts), length, dtype=torch.int64)
    for step in range(length):
        if decoding.strategy == "greedy":
            token = log_probs.argmax(dim=-1)
        else:
            filtered = filter_log_probs(
                log_probs, decoding.temperature, decoding.top_k, decoding.top_p
            )
            token = streams.sample(filtered.exp())
        out[:, step] = token
        if step + 1 < length:
            log_probs = session.feed(token[:, None])[:, -1]
    return out


def beam_search(session: Session, prompts: torch.Tensor, length: int, width: int) -> torch.Tensor:
    """The highest-probability continuation of ``length`` tokens found by
    beam search with ``width`` beams per row (sum of log-probabilities; all
    continuations have the same length, so no length normalisation)."""
    batch = len(prompts)
    log_probs = session.feed(prompts)[:, -1]  # (B, V)
    vocab = log_probs.shape[-1]
    width = min(width, vocab)
    scores, tokens = torch.topk(log_probs, width, dim=-1)  # (B, W)
    history = tokens[:, :, None]  # (B, W, t)
    session.select(torch.arange(batch).repeat_interleave(width))
    for _ in range(1, length):
        log_probs = session.feed(history[:, :, -1].reshape(-1, 1))[:, -1]
        candidates = (scores[:, :, None] + log_probs.view(batch, width, vocab)).view(batch, -1)
        scores, flat = torch.topk(candidates, width, dim=-1)
        parent, token = flat // vocab, flat % vocab
        history = torch.cat(
            [
                history.gather(1, parent[:, :, None].expand(-1, -1, history.shape[2])),
                token[..., None],
            ],
            dim=2,
        )
        session.select((torch.arange(batch)[:, None] * width + parent).reshape(-1))
    return history[:, 0]
