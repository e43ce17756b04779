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

from genbench_text.decoding import filter_log_probs, sample_categorical
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
    out = torch.zeros(batch, length, dtype=torch.int64)
    # per session row: its tokens so far. A round writes all k + 1 candidates
    # after the row's ``filled`` ones; those past the first rejection are
    # overwritten by the next round or lie past ``length``.
    generated = torch.zeros(batch, length + lookahead, dtype=torch.int64)
    filled = torch.zeros(batch, dtype=torch.int64)
    active = torch.arange(batch)  # original row of each session row
    pending = prompts
    offsets = torch.arange(lookahead + 1)
    accepted_total = torch.zeros((), dtype=torch.int64)
    stats = SpeculativeStats(rows=batch)

    unfiltered = temperature == 1.0 and not top_k and top_p == 1.0

    def filtered(log_probs: torch.Tensor) -> torch.Tensor:
        if unfiltered:  # sessions already return normalised log-probabilities
            return log_probs.exp()
        return filter_log_probs(log_probs, temperature, top_k, top_p).exp()

    while len(active):
        rows, width = pending.shape
        # the target's input (pending, then the k drafts) and, from column
        # ``width``, the round's k + 1 candidates: the drafts, then a slot that
        # takes the correction (or bonus) token
        tokens = torch.zeros(rows, width + lookahead + 1, dtype=torch.int64)
        tokens[:, :width] = pending
        # q[:, i] is the draft's distribution of draft token i; q[:, k] = 0,
        # so the residual after k acceptances is p_{k+1} itself
        q = torch.zeros(rows, lookahead + 1, target.vocab_size, dtype=torch.float64)
        q[:, 0] = filtered(draft.feed(pending)[:, -1])
        for i in range(lookahead):
            tokens[:, width + i] = sample_categorical(q[:, i], generator)
            latest = tokens[:, width + i : width + i + 1]
            if i + 1 < lookahead:
                q[:, i + 1] = filtered(draft.feed(latest)[:, -1])
            else:  # no draft distribution is needed after the last draft
                draft.append(latest)
        p = filtered(target.feed(tokens[:, :-1])[:, -(lookahead + 1) :])
        stats.target_calls += 1

        drafts = tokens[:, width:-1, None]
        p_draft = p[:, :lookahead].gather(2, drafts)[..., 0]
        q_draft = q[:, :lookahead].gather(2, drafts)[..., 0]
        uniform = torch.rand(rows, lookahead, generator=generator, dtype=torch.float64)
        accepted = torch.cumprod(uniform * q_draft < p_draft, dim=1).sum(dim=1)

        stop = torch.arange(rows)
        p_stop = p[stop, accepted]
        residual = (p_stop - q[stop, accepted]).clamp(min=0.0)
        total = residual.sum(dim=1, keepdim=True)
        residual = torch.where(total > 0, residual / total.clamp(min=1e-300), p_stop)
        final = sample_categorical(residual, generator)[:, None]

        candidates = tokens[:, width:]
        candidates.scatter_(1, accepted[:, None], final)
        generated.scatter_(1, filled[:, None] + offsets, candidates)
        filled += accepted + 1
        accepted_total += accepted.sum()
        stats.rounds += rows

        rejected = lookahead - accepted
        target.truncate(target.lengths - rejected)
        draft.truncate(draft.lengths - rejected)
        pending = final
        running = filled < length
        if not bool(running.all()):
            finished = torch.nonzero(~running)[:, 0]
            out[active[finished]] = generated[finished, :length]
            keep_rows = torch.nonzero(running)[:, 0]
            target.select(keep_rows)
            draft.select(keep_rows)
            active, pending = active[keep_rows], pending[keep_rows]
            generated, filled = generated[keep_rows], filled[keep_rows]
    stats.drafted = stats.rounds * lookahead
    stats.accepted = int(accepted_total)
    stats.emitted = stats.accepted + stats.rounds
    return out, stats
