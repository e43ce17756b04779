"""Fitted text models and what the hooks ask of them: samples and exact
log-likelihoods."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genbench.metrics.kneser_ney import KneserNeyLM
from genbench.tasks.text import TextVocabulary
from genbench_text.bpe import BpeTokenizer
from genbench_text.decoding import Decoding, generate
from genbench_text.prompts import PromptSource
from genbench_text.sessions import NgramSession, Session, TransformerSession
from genbench_text.speculative import SpeculativeStats, speculative_generate
from genbench_text.streams import RowStreams, row_seeds
from genbench_text.training import rolling_log_probs
from genbench_text.transformer import CausalTransformer

GENERATION_BATCH = 100
"""Sequences generated at once (one batched, KV-cached model call per token).
Direct decoding gives the same samples at any batch size; speculative
sampling gives identically distributed ones."""


@dataclass
class TextModel:
    """A trained language model with one decoding configuration.

    Attributes:
        name: the model spec's name.
        network: the language model (:class:`CausalTransformer` or
            :class:`KneserNeyLM`).
        decoding: how :meth:`sample` decodes.
        vocabulary: the task's tokeniser (decodes samples).
        prompts: where prompts come from (in the model's tokens).
        sample_tokens: tokens generated per sample (model tokens); the
            decoded text is cut to as many of the task's tokens.
        draft: the draft model of speculative decoding, else ``None``.
        calibration: acceptance counts of a calibration run (speculative).
        tokeniser: the model's own BPE tokeniser, or ``None`` when the model
            reads the task's tokens.
        batch_size: sequences generated at once.
    """

    name: str
    network: CausalTransformer | KneserNeyLM
    decoding: Decoding
    vocabulary: TextVocabulary
    prompts: PromptSource
    sample_tokens: int
    draft: CausalTransformer | KneserNeyLM | None = None
    calibration: SpeculativeStats | None = field(default=None)
    tokeniser: BpeTokenizer | None = None
    batch_size: int = GENERATION_BATCH

    @property
    def tokenisation(self) -> str:
        """``"bpe"`` or the task's unit (``"char"``, ``"byte"``)."""
        return "bpe" if self.tokeniser is not None else self.vocabulary.unit

    def model_tokens(self, documents: list[torch.Tensor]) -> list[torch.Tensor]:
        """``documents`` (task ids) as the model's ids: the canonical BPE
        tokenisation of their text, or themselves."""
        if self.tokeniser is None:
            return documents
        return [self.tokeniser.encode(self.vocabulary.decode(d)) for d in documents]

    def text(self, ids: torch.Tensor) -> str:
        """A sample's text: ``ids`` decoded, characters outside the task's
        vocabulary dropped (a BPE model can write any byte), cut to
        ``sample_tokens`` of the task's tokens."""
        if self.tokeniser is None:
            return self.vocabulary.decode(ids)
        text = self.tokeniser.decode(ids)
        if self.vocabulary.unit == "char":
            allowed = set(self.vocabulary.symbols)
            return "".join(c for c in text if c in allowed)[: self.sample_tokens]
        raw = text.replace("\ufffd", "").encode("utf-8")[: self.sample_tokens]
        return raw.decode("utf-8", errors="ignore")

    def session(self, network: CausalTransformer | KneserNeyLM, batch: int) -> Session:
        """An empty session of ``batch`` rows on ``network``."""
        if isinstance(network, CausalTransformer):
            return TransformerSession(network, batch)
        capacity = self.prompts.length + self.sample_tokens + self.decoding.lookahead + 1
        return NgramSession(network, batch, capacity)

    def generate_ids(
        self, prompts: torch.Tensor, seed: int, rows: range
    ) -> tuple[torch.Tensor, SpeculativeStats | None]:
        """Continuations (``(B, sample_tokens)`` ids) of ``prompts``, which
        are sequences ``rows`` of a run seeded with ``seed``: direct sampling
        draws sequence ``i`` from its own stream (:mod:`genbench_text.streams`);
        speculative sampling draws the batch from one generator seeded with
        ``(seed, rows.start)``."""
        batch = len(prompts)
        if self.decoding.strategy == "speculative":
            generator = torch.Generator().manual_seed(row_seeds(seed, [rows.start])[0])
            if self.draft is None:
                raise ValueError(f"model {self.name!r} decodes speculatively without a draft")
            return speculative_generate(
                self.session(self.network, batch),
                self.session(self.draft, batch),
                prompts,
                self.sample_tokens,
                self.decoding.lookahead,
                generator,
                self.decoding.temperature,
                self.decoding.top_k,
                self.decoding.top_p,
            )
        session = self.session(self.network, batch)
        streams = RowStreams(row_seeds(seed, rows))
        return generate(session, prompts, self.sample_tokens, self.decoding, streams), None

    def sample(self, n: int, seed: int) -> list[str]:
        """``n`` decoded continuations of prompts drawn with ``seed``,
        generated ``batch_size`` at a time."""
        prompts = self.prompts.draw(n, np.random.default_rng(seed))
        texts: list[str] = []
        for start in range(0, n, self.batch_size):
            rows = range(start, min(n, start + self.batch_size))
            ids, _ = self.generate_ids(prompts[rows.start : rows.stop], seed, rows)
            texts.extend(self.text(row) for row in ids)
        return texts

    def log_likelihood(self, documents: list[torch.Tensor]) -> tuple[np.ndarray, dict[str, Any]]:
        """Exact ``log p(document)`` in nats of each document, and how it
        was computed. A BPE model scores the canonical tokenisation of each
        document's text, which covers every byte of it."""
        if isinstance(self.network, KneserNeyLM):
            nats = [self.network.log_prob(d) for d in documents]
            return np.asarray(nats), {"order": self.network.order}
        context = self.network.config.context
        stride = context // 2
        tokens = self.model_tokens(documents)
        nats = [
            float(rolling_log_probs(self.network, d, self.network.bos, context, stride).sum())
            for d in tokens
        ]
        details: dict[str, Any] = {"context": context, "stride": stride}
        if self.tokeniser is not None:
            details.update(
                tokenisation="bpe",
                bpe_vocabulary=self.tokeniser.size,
                tokens=int(sum(len(t) for t in tokens)),
            )
        return np.asarray(nats), details

    def parameters(self) -> int:
        """Trainable parameters, or stored n-gram counts for the n-gram."""
        if isinstance(self.network, CausalTransformer):
            return self.network.parameter_count()
        return int(sum(len(table.codes) for table in self.network.tables))

    def network_calls_per_sample(self) -> float:
        """Sequential calls of the (target) model per sample: one per token,
        or one per verification round for speculative decoding."""
        if self.calibration is not None:
            return self.calibration.rounds_per_row
        return float(self.sample_tokens)
