"""Interpolated Kneser-Ney n-gram language model over integer tokens.

Used as the text tasks' fixed reference model (generative perplexity) and by
the text plugin as its n-gram model and speculative-decoding draft.

Definition (Chen & Goodman's interpolated Kneser-Ney, one discount per
order). Documents are left-padded with ``order - 1`` copies of a
beginning-of-document symbol ``BOS = vocab_size``, which is context only and
never predicted. For order ``k`` and context ``h`` (the last ``k - 1``
tokens)::

    p_k(w | h) = (max(a_k(h, w) - D_k, 0) + D_k * T_k(h) * p_{k-1}(w | h')) / A_k(h)

where ``a_N`` are raw counts at the highest order ``N``, ``a_k`` for
``k < N`` are continuation counts (the number of distinct tokens seen before
``h w``), ``A_k(h) = sum_w a_k(h, w)``, ``T_k(h)`` is the number of distinct
``w`` with ``a_k(h, w) > 0``, ``h'`` drops the oldest token of ``h``, and
``D_k = n1 / (n1 + 2 n2)`` from the counts of counts of ``a_k`` (1/2 when
no count is 1, which would otherwise zero some probabilities). An unseen
context passes ``p_{k-1}`` through unchanged; ``p_0`` is uniform over the
vocabulary, so every token has non-zero probability and each ``p_k``
sums to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

_MAX_CODE = 2**63
MEMO_LIMIT = 200_000
"""Contexts whose log-distributions :meth:`KneserNeyLM.next_log_probs` keeps."""


@dataclass(frozen=True)
class _OrderTable:
    """Counts of one order, sorted by (context, token) code."""

    codes: np.ndarray  # (context_code * base + token), sorted, unique
    counts: np.ndarray  # a_k for each code
    contexts: np.ndarray  # unique context codes, sorted
    starts: np.ndarray  # first index in codes of each context (len = contexts + 1)
    totals: np.ndarray  # A_k per context
    types: np.ndarray  # T_k per context
    discount: float

    @classmethod
    def build(cls, codes: np.ndarray, counts: np.ndarray, base: int) -> _OrderTable:
        order = np.argsort(codes, kind="stable")
        codes, counts = codes[order], counts[order]
        context_of = codes // base
        contexts, starts = np.unique(context_of, return_index=True)
        starts = np.append(starts, len(codes))
        totals = np.add.reduceat(counts, starts[:-1]) if len(codes) else np.zeros(0, np.int64)
        n1 = int(np.count_nonzero(counts == 1))
        n2 = int(np.count_nonzero(counts == 2))
        # degenerate counts of counts (no singletons: tiny or repetitive data)
        # would give D = 0 and zero probabilities; fall back to D = 1/2
        discount = n1 / (n1 + 2 * n2) if n1 > 0 else 0.5
        return cls(codes, counts, contexts, starts, totals, np.diff(starts), discount)

    def find_contexts(self, context_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row index of each context code and whether it was seen."""
        rows = np.searchsorted(self.contexts, context_codes)
        rows = np.minimum(rows, len(self.contexts) - 1)
        return rows, self.contexts[rows] == context_codes

    def find_counts(self, codes: np.ndarray) -> np.ndarray:
        """``a_k`` of each (context, token) code, 0 when unseen."""
        index = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        return np.where(self.codes[index] == codes, self.counts[index], 0)


class KneserNeyLM:
    """An interpolated Kneser-Ney model of ``order`` over ``vocab_size`` ids.

    Build with :meth:`fit`; save with :meth:`state_dict` and restore with
    :meth:`from_state_dict`. Probabilities are exact and normalised over
    ``[0, vocab_size)``.
    """

    def __init__(self, vocab_size: int, order: int, tables: list[_OrderTable]) -> None:
        self.vocab_size = vocab_size
        self.order = order
        self.bos = vocab_size
        self.base = vocab_size + 1
        self.tables = tables
        self._memo: dict[bytes, np.ndarray] = {}

    @classmethod
    def fit(
        cls, documents: Sequence[torch.Tensor | np.ndarray], vocab_size: int, order: int
    ) -> KneserNeyLM:
        """Count the n-grams of ``documents`` (sequences of ids in
        ``[0, vocab_size)``) and build the model."""
        if order < 1:
            raise ValueError(f"n-gram order must be at least 1, got {order}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {vocab_size}")
        if (vocab_size + 1) ** order >= _MAX_CODE:
            raise ValueError(
                f"order {order} with {vocab_size} symbols overflows 64-bit n-gram codes"
            )
        windows = _windows([np.asarray(d, dtype=np.int64) for d in documents], order, vocab_size)
        if len(windows) == 0:
            raise ValueError("cannot fit an n-gram model on no tokens")
        base = vocab_size + 1
        tables: list[_OrderTable] = []
        # codes[k] = code of the k-gram ending at each position (k = 1..order)
        codes = {k: _codes(windows[:, order - k :], base) for k in range(1, order + 1)}
        top, top_counts = np.unique(codes[order], return_counts=True)
        raw_table = _OrderTable.build(top, top_counts, base)
        for k in range(1, order):
            # continuation counts: distinct (k+1)-grams grouped by their last k tokens
            suffixes = np.unique(codes[k + 1]) % base**k
            unique_suffixes, continuation = np.unique(suffixes, return_counts=True)
            tables.append(_OrderTable.build(unique_suffixes, continuation, base))
        tables.append(raw_table)
        return cls(vocab_size, order, tables)

    # -- persistence ------------------------------------------------------------

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that :meth:`from_state_dict` rebuilds the model from."""
        state = {"meta": torch.tensor([self.vocab_size, self.order], dtype=torch.int64)}
        for k, table in enumerate(self.tables, start=1):
            state[f"order{k}.codes"] = torch.from_numpy(table.codes.copy())
            state[f"order{k}.counts"] = torch.from_numpy(table.counts.copy())
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> KneserNeyLM:
        """Inverse of :meth:`state_dict`."""
        vocab_size, order = (int(v) for v in state["meta"])
        tables = [
            _OrderTable.build(
                state[f"order{k}.codes"].numpy(), state[f"order{k}.counts"].numpy(), vocab_size + 1
            )
            for k in range(1, order + 1)
        ]
        return cls(vocab_size, order, tables)

    # -- probabilities ----------------------------------------------------------

    def next_distributions(self, contexts: np.ndarray) -> np.ndarray:
        """``p(. | context)`` for each row of ``contexts``.

        Args:
            contexts: ``(B, order - 1)`` ids, oldest first, ``BOS`` allowed.

        Returns:
            ``(B, vocab_size)`` float64 probabilities, rows summing to one.
        """
        contexts = np.asarray(contexts, dtype=np.int64)
        contexts = contexts.reshape(len(contexts), self.order - 1)
        batch = len(contexts)
        if batch == 1:  # a decoding step: scalar lookups beat the batched gathers
            return self._one_distribution(contexts[0].tolist())[None]
        probs = np.full((batch, self.vocab_size), 1.0 / self.vocab_size)
        for k, table in enumerate(self.tables, start=1):
            rows, seen = table.find_contexts(_codes(contexts[:, self.order - k :], self.base))
            if not seen.any():
                continue
            which, rows = np.flatnonzero(seen), rows[seen]
            totals = table.totals[rows].astype(np.float64)
            probs[which] *= (table.discount * table.types[rows] / totals)[:, None]
            lengths = table.starts[rows + 1] - table.starts[rows]
            entry = np.repeat(table.starts[rows] - np.cumsum(lengths) + lengths, lengths)
            entry += np.arange(lengths.sum())
            owner = np.repeat(which, lengths)
            mass = np.maximum(table.counts[entry] - table.discount, 0.0)
            probs[owner, table.codes[entry] % self.base] += mass / np.repeat(totals, lengths)
        return probs

    def _one_distribution(self, context: list[int]) -> np.ndarray:
        """:meth:`next_distributions` of one context, with the same float
        operations in the same order (so bitwise equal)."""
        probs = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k, table in enumerate(self.tables, start=1):
            code = 0
            for token in context[self.order - k :]:
                code = code * self.base + token
            row = int(np.searchsorted(table.contexts, code))
            if row == len(table.contexts) or table.contexts[row] != code:
                continue
            start, end = table.starts[row], table.starts[row + 1]
            total = np.float64(table.totals[row])
            probs *= table.discount * table.types[row] / total
            mass = np.maximum(table.counts[start:end] - table.discount, 0.0)
            probs[table.codes[start:end] % self.base] += mass / total
        return probs

    def next_log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """``log`` of :meth:`next_distributions`, memoised per context (decoding
        revisits the same contexts; the memo is emptied when it holds
        :data:`MEMO_LIMIT` of them)."""
        contexts = np.ascontiguousarray(contexts, dtype=np.int64)
        contexts = contexts.reshape(len(contexts), self.order - 1)
        keys = [row.tobytes() for row in contexts]
        missing = [i for i, key in enumerate(keys) if key not in self._memo]
        if missing:
            if len(self._memo) + len(missing) > MEMO_LIMIT:
                self._memo.clear()
                missing = list(range(len(keys)))
            rows = np.log(self.next_distributions(contexts[missing]))
            for i, row in zip(missing, rows, strict=True):
                self._memo[keys[i]] = row
        return np.stack([self._memo[key] for key in keys])

    def token_log_probs(self, document: torch.Tensor | np.ndarray) -> np.ndarray:
        """``log p(x_t | x_<t)`` in nats for every token of ``document``
        (the first token conditioned on ``BOS`` only)."""
        ids = np.asarray(document, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        windows = _windows([ids], self.order, self.vocab_size)
        probs = np.full(len(windows), 1.0 / self.vocab_size)
        for k, table in enumerate(self.tables, start=1):
            gram = windows[:, self.order - k :]
            rows, seen = table.find_contexts(_codes(gram[:, :-1], self.base))
            counts = table.find_counts(_codes(gram, self.base))
            totals = table.totals[rows].astype(np.float64)
            smoothed = (
                np.maximum(counts - table.discount, 0.0)
                + table.discount * table.types[rows] * probs
            ) / totals
            probs = np.where(seen, smoothed, probs)
        return np.log(probs)

    def log_prob(self, document: torch.Tensor | np.ndarray) -> float:
        """``log p(document)`` in nats."""
        return float(self.token_log_probs(document).sum())


def _windows(documents: list[np.ndarray], order: int, vocab_size: int) -> np.ndarray:
    """``(tokens, order)`` matrix: each row is ``order - 1`` context ids
    (BOS-padded) followed by the token they predict."""
    rows = []
    for ids in documents:
        if ids.size == 0:
            continue
        if ids.min() < 0 or ids.max() >= vocab_size:
            raise ValueError(f"token ids must lie in [0, {vocab_size})")
        padded = np.concatenate([np.full(order - 1, vocab_size, dtype=np.int64), ids])
        rows.append(np.lib.stride_tricks.sliding_window_view(padded, order))
    if not rows:
        return np.zeros((0, order), dtype=np.int64)
    return np.concatenate(rows)


def _codes(grams: np.ndarray, base: int) -> np.ndarray:
    """Integer code of each row of ``grams`` in base ``base`` (0 for width 0)."""
    code = np.zeros(len(grams), dtype=np.int64)
    for column in range(grams.shape[1]):
        code = code * base + grams[:, column]
    return code
