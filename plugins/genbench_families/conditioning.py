"""Class conditioning with classifier-free guidance (Ho and Salimans, 2022),
shared by the diffusion and flow-matching families.

A conditional network takes a label per example in ``0..K`` where ``K`` (the
number of classes) is the "null" class: the unconditional prediction. During
training each label is replaced by the null class with probability
``label_dropout``, so one network learns both predictions. At sampling time
the guided prediction is ``u + w (c - u)`` for the unconditional prediction
``u``, the conditional one ``c`` and the guidance scale ``w >= 0``: ``w = 0``
evaluates only the null-label network, ``w = 1`` only the conditional one
(one network evaluation per step in either case); any other ``w`` evaluates
both, as one batch of twice the size (two evaluations per step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


def checked_conditioning(
    num_classes: int | None, label_dropout: float, guidance: float
) -> tuple[int | None, float, float]:
    """``(num_classes, label_dropout, guidance)`` when valid, else a ValueError.

    ``num_classes`` is ``None`` (an unconditional model, which then takes
    neither a label dropout nor a guidance scale other than the defaults 0
    and 1) or at least 1; ``label_dropout`` lies in ``[0, 1)`` and
    ``guidance`` is a finite number ``>= 0``.
    """
    if num_classes is None:
        if label_dropout != 0.0 or guidance != 1.0:
            raise ValueError(
                "label_dropout and guidance need a class-conditional model (num_classes)"
            )
        return None, 0.0, 1.0
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if not 0.0 <= label_dropout < 1.0:
        raise ValueError(f"label_dropout must lie in [0, 1), got {label_dropout}")
    return int(num_classes), float(label_dropout), checked_guidance(guidance)


def checked_guidance(guidance: float) -> float:
    """``guidance`` as a float if it is finite and ``>= 0``, else a ValueError."""
    w = float(guidance)
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"guidance must be a finite number >= 0, got {guidance!r}")
    return w


def evaluations_per_step(guidance: float) -> int:
    """Network evaluations per guided prediction: 1 at ``w`` = 0 or 1, else 2."""
    return 1 if checked_guidance(guidance) in (0.0, 1.0) else 2


def drop_labels(labels: Tensor, p: float, null: int, generator: torch.Generator) -> Tensor:
    """``labels`` with each replaced by ``null`` with probability ``p``; the
    uniform draws (one per label) come from ``generator``."""
    keep = torch.rand(len(labels), generator=generator, device=labels.device) >= p
    return torch.where(keep, labels, torch.full_like(labels, null))


def uniform_labels(n: int, num_classes: int, generator: torch.Generator) -> Tensor:
    """``n`` labels drawn uniformly from ``0..num_classes - 1`` by ``generator``."""
    return torch.randint(0, num_classes, (n,), generator=generator, device=generator.device)


@dataclass(frozen=True)
class Guide:
    """A guided prediction for a batch: labels ``(B,)`` in ``0..null - 1``,
    the null class's index and the guidance scale ``w``."""

    labels: Tensor
    null: int
    guidance: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "guidance", checked_guidance(self.guidance))

    def predict(self, net: Callable[..., Tensor], x: Tensor, t: Tensor) -> Tensor:
        """``u + w (c - u)`` with ``c = net(x, t, labels)`` and ``u = net(x,
        t, null)``; at ``w = 0`` only ``u`` and at ``w = 1`` only ``c`` is
        evaluated, so those are bit for bit the single-branch predictions."""
        null = torch.full_like(self.labels, self.null)
        if self.guidance == 0.0:
            return net(x, t, null)
        if self.guidance == 1.0:
            return net(x, t, self.labels)
        both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([self.labels, null]))
        conditional, unconditional = both.chunk(2)
        return unconditional + self.guidance * (conditional - unconditional)


def checked_labels(labels: Tensor, n: int, num_classes: int) -> Tensor:
    """``labels`` if it is an int64 tensor of shape ``(n,)`` with values in
    ``[0, num_classes)``, else a ValueError naming the problem."""
    if not isinstance(labels, Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype != torch.int64:
        raise ValueError(f"labels must have dtype torch.int64, got {labels.dtype}")
    if tuple(labels.shape) != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got values in "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


def labelled_rows(
    data: Tensor, labels: Tensor, loss: Callable[[Tensor, Tensor], Tensor]
) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """What the training loop batches, and the loss of one batch, for
    labelled ``data``: the loop draws mini-batches of rows, so it is handed
    the row indices ``0..N - 1`` (the same seeded draws as the rows
    themselves) and the loss looks up each row's example and label, which
    stay aligned."""
    rows = torch.arange(len(data), device=data.device)
    labels = labels.to(data.device)

    def batch_loss(batch: Tensor) -> Tensor:
        return loss(data[batch], labels[batch])

    return rows, batch_loss
