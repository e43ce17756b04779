"""Incremental next-token distributions for a batch of token histories.

A :class:`Session` is what every decoding strategy talks to: it is fed
tokens row by row and answers ``log p(next | history)`` after each fed
token. Rows may hold histories of different lengths (speculative decoding
accepts a different number of draft tokens per row), and can be cut back
(:meth:`Session.truncate`) or reordered (:meth:`Session.select`, beam
search).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from genbench.metrics.kneser_ney import KneserNeyLM
from genbench_text.transformer import CausalTransformer, KVCache


class Session(ABC):
    """Histories of a batch of rows under one language model.

    Attributes:
        vocab_size: size of the next-token distributions.
        lengths: ``(B,)`` tokens held per row.
    """

    vocab_size: int

    @property
    @abstractmethod
    def lengths(self) -> torch.Tensor:
        """``(B,)`` tokens held per row."""

    @abstractmethod
    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append ``tokens`` (``(B, m)``) to every row and return
        ``(B, m, vocab_size)`` float64 log-probabilities of the token after
        each fed one."""

    @abstractmethod
    def truncate(self, lengths: torch.Tensor) -> None:
        """Keep only the first ``lengths[b]`` tokens of row ``b``."""

    @abstractmethod
    def select(self, rows: torch.Tensor) -> None:
        """Keep, reorder or repeat rows: row ``i`` becomes old row ``rows[i]``."""


class TransformerSession(Session):
    """A :class:`CausalTransformer` with a ragged KV cache."""

    def __init__(self, model: CausalTransformer, batch: int) -> None:
        self.model = model
        self.vocab_size = model.config.vocab_size
        self.cache: KVCache = model.new_cache(batch)

    @property
    def lengths(self) -> torch.Tensor:
        return self.cache.lengths

    @torch.no_grad()
    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = self.model(tokens, self.cache)
        return torch.log_softmax(logits.double(), dim=-1)

    def truncate(self, lengths: torch.Tensor) -> None:
        self.cache.truncate(lengths)

    def select(self, rows: torch.Tensor) -> None:
        self.cache.select(rows)


class NgramSession(Session):
    """A :class:`KneserNeyLM`; histories shorter than the model's context
    are padded with its ``BOS``."""

    def __init__(self, model: KneserNeyLM, batch: int, capacity: int) -> None:
        self.model = model
        self.vocab_size = model.vocab_size
        self.history = torch.full((batch, capacity), model.bos, dtype=torch.int64)
        self._lengths = torch.zeros(batch, dtype=torch.int64)

    @property
    def lengths(self) -> torch.Tensor:
        return self._lengths

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, m = tokens.shape
        positions = self._lengths[:, None] + torch.arange(m)
        if int(positions.max()) >= self.history.shape[1]:
            raise ValueError(f"history exceeds the session's capacity of {self.history.shape[1]}")
        self.history.scatter_(1, positions, tokens)
        self._lengths = self._lengths + m
        width = self.model.order - 1
        # context of the token after position p: positions p - width + 1 .. p
        offsets = torch.arange(-width + 1, 1)
        index = positions[:, :, None] + offsets
        padded = torch.where(
            index >= 0,
            self.history.gather(1, index.clamp(min=0).reshape(batch, -1)).reshape(index.shape),
            torch.full_like(index, self.model.bos),
        )
        log_probs = self.model.next_log_probs(padded.reshape(batch * m, width).numpy())
        return torch.from_numpy(log_probs).reshape(batch, m, self.vocab_size)

    def truncate(self, lengths: torch.Tensor) -> None:
        if bool((lengths > self._lengths).any()) or bool((lengths < 0).any()):
            raise ValueError("truncate can only shorten histories")
        self._lengths = lengths.clone()

    def select(self, rows: torch.Tensor) -> None:
        self.history = self.history.index_select(0, rows)
        self._lengths = self._lengths.index_select(0, rows)
