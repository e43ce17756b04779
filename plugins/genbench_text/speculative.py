"""Speculative sampling: a cheap draft model proposes tokens, the target
model checks them all in one call, and the output is distributed exactly as
sampling from the target.

Per round and row (Leviathan et al. 2023; Chen et al. 2023): the draft
samples ``x_1..x_k`` from its distributions ``q_1..q_k``; one target call
gives ``p_1..p_{k+1}``. Draft token ``x_i`` is accepted with probability
``min(1, p_i(x_i) / q_i(x_i))``; at the first rejection a token is drawn
from ``max(p_i - q_i, 0)`` renormalised and the round ends; when all ``k``
are accepted a bonus token is drawn from ``p_{k+1}``. ``p`` and ``q`` are the
*filtered* distributions (temperature, top-k, nucleus), so the result is
distributed as sampling from the target with the same filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench_text.decoding import filter_log_probs
from genbench_text.sessions import Session


@dataclass
class SpeculativeStats:
    """Counts from one speculative generation.

    Attributes:
        rows: sequences generated.
        drafted: draft tokens proposed, over all rows.
        accepted: draft tokens the target accepted.
        emitted: tokens produced (accepted drafts plus one per round).
        rounds: row-rounds, i.e. target verifications summed over rows.
        target_calls: batched target forward calls.
    """

    rows: int = 0
    drafted: int = 0
    accepted: int = 0
    emitted: int = 0
    rounds: int = 0
    target_calls: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Fraction of draft tokens accepted."""
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def tokens_per_round(self) -> float:
        """Tokens produced per target verification of one row."""
        return self.emitted / self.rounds if self.rounds else 0.0

    @property
    def rounds_per_row(self) -> float:
        """Target verifications per sequence (its sequential target calls)."""
        return self.rounds / self.rows if self.rows else 0.0


def speculative_generate(
    target: Session,
    draft: Session,
    prompts: torch.Tensor,
    length: int,
    lookahead: int,
    generator: torch.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> tuple[torch.Tensor, SpeculativeStats]:
    """Continue each row of ``prompts`` (``(B, P)``) by ``length`` tokens.

    Args:
        target, draft: empty sessions of ``B`` rows over the same vocabulary.
        lookahead: draft tokens per round (``k``).
        generator: source of every random draw.
        temperature, top_k, top_p: the filter applied to both models'
            distributions (see :func:`genbench_text.decoding.filter_log_probs`).

    Returns:
        ``(B, length)`` ids and the acceptance counts.
    """
    if lookahead < 1:
        raise ValueError(f"lookahead must be >= 1, got {lookahead}")
    if target.vocab_size != draft.vocab_size:
        raise ValueError(
            f"target and draft vocabularies differ ({target.vocab_size} vs {draft.vocab_size})"
        )
    batch = len(prompts)
    out = torch.zeros(batch, length + lookahead + 1, dtype=torch.int64)
    filled = torch.zeros(batch, dtype=torch.int64)
    active = torch.arange(batch)  # original row of each session row
    pending = prompts
    stats = SpeculativeStats(rows=batch)

    def filtered(log_probs: torch.Tensor) -> torch.Tensor:
        return filter_log_probs(log_probs, temperature, top_k, top_p).exp()

    while len(active):
        rows = len(active)
        drafts = torch.empty(rows, lookahead, dtype=torch.int64)
        q = torch.zeros(rows, lookahead + 1, target.vocab_size, dtype=torch.float64)
        q_next = filtered(draft.feed(pending)[:, -1])
        for i in range(lookahead):
            q[:, i] = q_next
            drafts[:, i] = torch.multinomial(q_next, 1, generator=generator)[:, 0]
            q_next = filtered(draft.feed(drafts[:, i : i + 1])[:, -1])
        p = filtered(target.feed(torch.cat([pending, drafts], dim=1))[:, -(lookahead + 1) :])
        stats.target_calls += 1

        p_draft = p[:, :lookahead].gather(2, drafts[..., None])[..., 0]
        q_draft = q[:, :lookahead].gather(2, drafts[..., None])[..., 0]
        uniform = torch.rand(rows, lookahead, generator=generator, dtype=torch.float64)
        accepted = torch.cumprod((uniform * q_draft < p_draft).long(), dim=1).sum(dim=1)

        # q at index lookahead is zero, so the "residual" there is p_{k+1}
        stop = torch.arange(rows)
        residual = (p[stop, accepted] - q[stop, accepted]).clamp(min=0.0)
        total = residual.sum(dim=1, keepdim=True)
        residual = torch.where(total > 0, residual / total.clamp(min=1e-300), p[stop, accepted])
        final = torch.multinomial(residual, 1, generator=generator)[:, 0]

        emitted = torch.cat([drafts, torch.zeros(rows, 1, dtype=torch.int64)], dim=1)
        emitted[stop, accepted] = final
        slots = filled[active, None] + torch.arange(lookahead + 1)
        keep = torch.arange(lookahead + 1)[None, :] <= accepted[:, None]
        out[active[:, None].expand_as(slots)[keep], slots[keep]] = emitted[keep]
        filled[active] += accepted + 1

        stats.drafted += rows * lookahead
        stats.accepted += int(accepted.sum())
        stats.emitted += int(accepted.sum()) + rows
        stats.rounds += rows

        target.truncate(target.lengths - (lookahead - accepted))
        draft.truncate(draft.lengths - (lookahead - accepted))
        pending = final[:, None]
        running = filled[active] < length
        if not bool(running.all()):
            keep_rows = torch.nonzero(running)[:, 0]
            target.select(keep_rows)
            draft.select(keep_rows)
            active, pending = active[keep_rows], pending[keep_rows]
    return out[:, :length], stats
