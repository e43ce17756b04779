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

import numpy as np
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

    def append(self, tokens: torch.Tensor) -> None:
        """Append ``tokens`` (``(B, m)``) like :meth:`feed` when their
        distributions are not needed; sessions that can skip computing them
        override this."""
        self.feed(tokens)

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

    @torch.no_grad()
    def append(self, tokens: torch.Tensor) -> None:
        self.model(tokens, self.cache)

    def truncate(self, lengths: torch.Tensor) -> None:
        self.cache.truncate(lengths)

    def select(self, rows: torch.Tensor) -> None:
        self.cache.select(rows)


class NgramSession(Session):
    """A :class:`KneserNeyLM`; histories shorter than the model's context
    are padded with its ``BOS``.

    The bookkeeping is in NumPy: at batch 1 (a speculative draft step) each
    PyTorch call would cost more than the memoised distribution lookup.
    """

    def __init__(self, model: KneserNeyLM, batch: int, capacity: int) -> None:
        self.model = model
        self.vocab_size = model.vocab_size
        self.capacity = capacity
        self._width = model.order - 1
        # ``width`` BOS columns before the first token (position p is
        # column p + width), so every context lies inside the array
        self._history = np.full((batch, self._width + capacity), model.bos, dtype=np.int64)
        self._lengths = np.zeros(batch, dtype=np.int64)

    @property
    def lengths(self) -> torch.Tensor:
        return torch.from_numpy(self._lengths.copy())

    def _write(self, tokens: torch.Tensor) -> np.ndarray:
        """Append ``tokens`` and return their ``(B, m)`` history columns."""
        ids = tokens.numpy()
        if int(self._lengths.max(initial=0)) + ids.shape[1] > self.capacity:
            raise ValueError(f"history exceeds the session's capacity of {self.capacity}")
        columns = self._lengths[:, None] + np.arange(self._width, self._width + ids.shape[1])
        rows = np.arange(len(ids))[:, None]
        self._history[rows, columns] = ids
        self._lengths = self._lengths + ids.shape[1]
        return columns

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        columns = self._write(tokens)
        batch, m = columns.shape
        # context of the token at column c: columns c - width + 1 .. c
        window = columns[:, :, None] + np.arange(1 - self._width, 1)
        contexts = self._history[np.arange(batch)[:, None, None], window]
        log_probs = self.model.next_log_probs(contexts.reshape(batch * m, self._width))
        return torch.from_numpy(log_probs).reshape(batch, m, self.vocab_size)

    def append(self, tokens: torch.Tensor) -> None:
        self._write(tokens)

    def truncate(self, lengths: torch.Tensor) -> None:
        new = lengths.numpy()
        # a Python check: NumPy reductions cost more than the lookup at batch 1
        held = self._lengths.tolist()
        if any(not 0 <= n <= h for n, h in zip(new.tolist(), held, strict=True)):
            raise ValueError("truncate can only shorten histories")
        self._lengths = new.copy()

    def select(self, rows: torch.Tensor) -> None:
        index = rows.numpy()
        self._history = self._history[index]
        self._lengths = self._lengths[index]
