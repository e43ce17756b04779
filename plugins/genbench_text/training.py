"""Training and exact rolling-context scoring of neural language models."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings.

    Attributes:
        steps: optimiser steps.
        batch_size: windows per step.
        window: tokens per training window (at most the model's context).
        learning_rate: peak AdamW learning rate (linear warm-up over the
            first 5 % of steps, cosine decay to 10 % of the peak).
        weight_decay: AdamW decoupled weight decay on matrices.
    """

    steps: int
    batch_size: int
    window: int
    learning_rate: float = 3e-3
    weight_decay: float = 0.1

    def learning_rate_at(self, step: int) -> float:
        """The scheduled learning rate of optimiser step ``step`` (0-based)."""
        warmup = max(1, self.steps // 20)
        if step < warmup:
            return self.learning_rate * (step + 1) / warmup
        progress = (step - warmup) / max(1, self.steps - warmup)
        return self.learning_rate * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))


def token_stream(documents: Sequence[torch.Tensor], bos: int) -> torch.Tensor:
    """All documents concatenated, each preceded by ``bos``."""
    parts = []
    for document in documents:
        parts.append(torch.tensor([bos], dtype=torch.int64))
        parts.append(document.to(torch.int64))
    return torch.cat(parts)


def train_language_model(
    model: nn.Module,
    documents: Sequence[torch.Tensor],
    bos: int,
    config: TrainingConfig,
    seed: int,
) -> list[float]:
    """Train ``model`` (``forward(ids) -> (B, T, V)`` logits) on random
    windows of the document stream by next-token cross-entropy; targets
    that are ``bos`` are not predicted. Training runs where the model's
    parameters are, windows drawn from a generator on that device.

    Returns:
        the training loss (nats/token) of every step.
    """
    stream = token_stream(documents, bos)
    if len(stream) <= config.window + 1:
        raise ValueError(
            f"the training documents hold {len(stream)} tokens, too few for windows of "
            f"{config.window}"
        )
    device = next(model.parameters()).device
    stream = stream.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimiser = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
        betas=(0.9, 0.99),
    )
    offsets = torch.arange(config.window + 1, device=device)
    losses = []
    model.train()
    for step in range(config.steps):
        for group in optimiser.param_groups:
            group["lr"] = config.learning_rate_at(step)
        starts = torch.randint(
            0,
            len(stream) - config.window - 1,
            (config.batch_size,),
            generator=generator,
            device=device,
        )
        batch = stream[starts[:, None] + offsets]
        inputs, targets = batch[:, :-1], batch[:, 1:].clone()
        targets[targets == bos] = -100
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def rolling_log_probs(
    model: nn.Module, document: torch.Tensor, bos: int, context: int, stride: int
) -> np.ndarray:
    """``log p(x_t | x_<t)`` in nats for every token of ``document``, each
    predicted exactly once.

    The input is ``[bos, x_0, ..., x_{T-2}]``. Windows of ``context`` inputs
    start every ``stride`` positions; the first window predicts its
    ``context`` tokens, each later one only the tokens after the previous
    window's end, so every prediction sees at least ``context - stride``
    tokens of history (or the whole document so far).
    """
    if not 0 < stride <= context:
        raise ValueError(f"stride must be in (0, context={context}], got {stride}")
    length = len(document)
    inputs = torch.cat([torch.tensor([bos]), document[:-1].to(torch.int64)])
    out = np.empty(length, dtype=np.float64)
    done = 0
    start = 0
    while done < length:
        end = min(start + context, length)
        logits = model(inputs[start:end][None])[0]
        log_probs = torch.log_softmax(logits.double(), dim=-1)
        positions = torch.arange(done, end)
        out[done:end] = log_probs[positions - start, document[positions]].numpy()
        done = end
        start += stride
    return out
