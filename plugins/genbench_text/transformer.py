"""A small decoder-only Transformer over a task's tokens, with a KV cache.

Pre-LayerNorm GPT blocks, causal self-attention with ALiBi position biases
(Press et al. 2022: head ``h`` adds ``-m_h * distance`` to its attention
scores, ``m_h = 2^(-8h/heads)``; no position embeddings, so a model trained on
short windows runs on longer contexts), output head tied to the token
embedding. The input vocabulary has one more
id than the output: ``BOS = vocab_size`` starts every document and is never
predicted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture of :class:`CausalTransformer`.

    Attributes:
        vocab_size: output ids; inputs also take ``BOS = vocab_size``.
        context: maximum tokens held in a generation cache.
        width: embedding width; ``heads`` must divide it.
        depth: number of blocks.
        heads: attention heads; each gets its own ALiBi slope, so more heads
            means more distinct attention ranges.
        dropout: training dropout rate on the token embeddings and on the
            output of every residual branch (attention and MLP).
        attention_dropout: training dropout rate on the attention
            probabilities. Separate from ``dropout`` because on the CPU it is
            the costliest part of a training step: it draws a mask for every
            (batch, head, query, key) entry, so with many heads it can double
            the step time.
    """

    vocab_size: int
    context: int = 192
    width: int = 128
    depth: int = 4
    heads: int = 4
    dropout: float = 0.0
    attention_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if min(self.vocab_size, self.context, self.width, self.depth, self.heads) < 1:
            raise ValueError(f"transformer sizes must be positive, got {asdict(self)}")
        for name in ("dropout", "attention_dropout"):
            rate = getattr(self, name)
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")


class KVCache:
    """Keys and values of every layer for a batch of token histories whose
    lengths may differ (speculative decoding accepts a different number of
    tokens per row).

    ``keys[layer]``/``values[layer]`` are ``(B, heads, context, head_width)``
    buffers; row ``b`` holds ``lengths[b]`` valid positions. Entries past a
    row's length are stale and masked out, so truncating only lowers
    ``lengths``.
    """

    def __init__(
        self, config: TransformerConfig, batch: int, device: torch.device | str = "cpu"
    ) -> None:
        shape = (batch, config.heads, config.context, config.width // config.heads)
        self.keys = [torch.zeros(shape, device=device) for _ in range(config.depth)]
        self.values = [torch.zeros(shape, device=device) for _ in range(config.depth)]
        self.lengths = torch.zeros(batch, dtype=torch.int64, device=device)

    def truncate(self, lengths: torch.Tensor) -> None:
        """Keep the first ``lengths[b]`` tokens of each row (no more than held)."""
        if bool((lengths > self.lengths).any()) or bool((lengths < 0).any()):
            raise ValueError("truncate can only shorten histories")
        self.lengths = lengths.clone()

    def select(self, rows: torch.Tensor) -> None:
        """Keep (and reorder, or repeat) batch rows ``rows``."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
        self.lengths = self.lengths.index_select(0, rows)


class _Block(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.attention_dropout = config.attention_dropout
        self.norm1 = nn.LayerNorm(config.width)
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.proj = nn.Linear(config.width, config.width)
        self.norm2 = nn.LayerNorm(config.width)
        self.mlp = nn.Sequential(
            nn.Linear(config.width, 4 * config.width),
            nn.GELU(),
            nn.Linear(4 * config.width, config.width),
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        cache: KVCache | None,
        layer: int,
        positions: torch.Tensor,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        if cache is not None:  # write this call's keys at each row's positions
            index = positions[:, None, :, None].expand(-1, self.heads, -1, k.shape[-1])
            # in place: copying the whole buffer per call would cost more
            # than the step itself at large batch
            k = cache.keys[layer].scatter_(2, index, k)
            v = cache.values[layer].scatter_(2, index, v)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attention_dropout if self.training else 0.0
        )
        attended = attended.transpose(1, 2).reshape(batch, length, width)
        x = x + self.drop(self.proj(attended))
        return x + self.drop(self.mlp(self.norm2(x)))


class CausalTransformer(nn.Module):
    """Decoder-only Transformer returning next-token logits.

    ``forward(ids, cache)`` takes ``(B, T)`` input ids (``BOS`` allowed) that
    continue the ``cache.length`` tokens already in ``cache`` (or start at
    position 0 without a cache) and returns ``(B, T, vocab_size)`` logits;
    logits at position ``t`` predict the token after input ``t``.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.token = nn.Embedding(config.vocab_size + 1, config.width)
        slopes = 2.0 ** (-8.0 * torch.arange(1, config.heads + 1) / config.heads)
        self.register_buffer("slopes", slopes, persistent=False)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width)
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(parameter, std=0.02 / math.sqrt(2 * config.depth))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def bos(self) -> int:
        """The beginning-of-document input id."""
        return self.config.vocab_size

    def new_cache(self, batch: int) -> KVCache:
        """An empty cache of ``batch`` rows for :meth:`forward`, on the
        network's device."""
        return KVCache(self.config, batch, self.slopes.device)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        length, device = ids.shape[1], ids.device
        if cache is None:
            positions = torch.arange(length, device=device)[None, :]
            slots = torch.arange(length, device=device)
        else:
            positions = cache.lengths[:, None] + torch.arange(length, device=device)
            slots = torch.arange(self.config.context, device=device)
            if int(positions.max()) >= self.config.context:
                raise ValueError(
                    f"{int(positions.max()) + 1} positions exceed the cache's context of "
                    f"{self.config.context}"
                )
        # ALiBi: (B, heads, length, slots) additive bias, -inf on future slots
        distance = (positions[:, None, :, None] - slots).to(torch.float32)
        bias = (-self.slopes[None, :, None, None] * distance).masked_fill(distance < 0, -math.inf)
        x = self.drop(self.token(ids))
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer, positions, bias)
        if cache is not None:
            cache.lengths = cache.lengths + length
        # tied head: output ids exclude BOS
        return self.norm(x) @ self.token.weight[: self.config.vocab_size].T

    def parameter_count(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
