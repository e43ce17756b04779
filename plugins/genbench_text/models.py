"""Fitted text models and what the hooks ask of them: samples and exact
log-likelihoods."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genbench.metrics.kneser_ney import KneserNeyLM
from genbench.tasks.text import TextVocabulary
from genbench_text.decoding import Decoding, generate
from genbench_text.prompts import PromptSource
from genbench_text.sessions import NgramSession, Session, TransformerSession
from genbench_text.speculative import SpeculativeStats, speculative_generate
from genbench_text.training import rolling_log_probs
from genbench_text.transformer import CausalTransformer

GENERATION_BATCH = 100
"""Samples generated per batch (fixed, so a seed gives the same samples)."""


@dataclass
class TextModel:
    """A trained language model with one decoding configuration.

    Attributes:
        name: the model spec's name.
        network: the language model (:class:`CausalTransformer` or
            :class:`KneserNeyLM`).
        decoding: how :meth:`sample` decodes.
        vocabulary: the task's tokeniser (decodes samples).
        prompts: where prompts come from.
        sample_tokens: tokens generated per sample.
        draft: the draft model of speculative decoding, else ``None``.
        calibration: acceptance counts of a calibration run (speculative).
    """

    name: str
    network: CausalTransformer | KneserNeyLM
    decoding: Decoding
    vocabulary: TextVocabulary
    prompts: PromptSource
    sample_tokens: int
    draft: CausalTransformer | KneserNeyLM | None = None
    calibration: SpeculativeStats | None = field(default=None)

    def session(self, network: CausalTransformer | KneserNeyLM, batch: int) -> Session:
        """An empty session of ``batch`` rows on ``network``."""
        if isinstance(network, CausalTransformer):
            return TransformerSession(network, batch)
        capacity = self.prompts.length + self.sample_tokens + self.decoding.lookahead + 1
        return NgramSession(network, batch, capacity)

    def generate_ids(
        self, prompts: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, SpeculativeStats | None]:
        """Continuations (``(B, sample_tokens)`` ids) of ``prompts``."""
        batch = len(prompts)
        if self.decoding.strategy == "speculative":
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
        return generate(session, prompts, self.sample_tokens, self.decoding, generator), None

    def sample(self, n: int, seed: int) -> list[str]:
        """``n`` decoded continuations of prompts drawn with ``seed``."""
        rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(int(seed))
        texts: list[str] = []
        for start in range(0, n, GENERATION_BATCH):
            prompts = self.prompts.draw(min(GENERATION_BATCH, n - start), rng)
            ids, _ = self.generate_ids(prompts, generator)
            texts.extend(self.vocabulary.decode(row) for row in ids)
        return texts

    def log_likelihood(self, documents: list[torch.Tensor]) -> tuple[np.ndarray, dict[str, Any]]:
        """Exact ``log p(document)`` in nats of each document, and how it
        was computed."""
        if isinstance(self.network, KneserNeyLM):
            nats = [self.network.log_prob(d) for d in documents]
            return np.asarray(nats), {"order": self.network.order}
        context = self.network.config.context
        stride = context // 2
        nats = [
            float(rolling_log_probs(self.network, d, self.network.bos, context, stride).sum())
            for d in documents
        ]
        return np.asarray(nats), {"context": context, "stride": stride}

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
