"""Decoding strategies and speculative sampling on tiny models.

The speculative-sampling test draws 20,000 seeded sequences of 3 tokens from
a 4-token vocabulary and compares their frequencies with the target's exact
joint distribution (64 cells) by a chi-square test at significance 1e-3, and
with direct sampling by total variation (tolerance 0.03; about 0.01 is
expected from sampling noise alone). A draft-only sampler fails the same
test, so the test can fail.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from genbench_text.decoding import Decoding, filter_log_probs, generate, sample_categorical
from genbench_text.sessions import NgramSession, TransformerSession
from genbench_text.speculative import speculative_generate
from genbench_text.streams import RowStreams, row_seeds
from genbench_text.transformer import CausalTransformer, TransformerConfig
from scipy.stats import chisquare

from genbench.metrics.kneser_ney import KneserNeyLM

VOCAB = 4
LENGTH = 3
ROWS = 20_000
PROMPT = torch.tensor([[1, 2]])


@pytest.fixture(scope="module")
def target() -> CausalTransformer:
    """A random Transformer with peaked next-token distributions."""
    torch.manual_seed(0)
    model = CausalTransformer(TransformerConfig(VOCAB, context=16, width=16, depth=1, heads=2))
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.mul_(40)
    return model.eval()


@pytest.fixture(scope="module")
def draft() -> KneserNeyLM:
    generator = torch.Generator().manual_seed(1)
    documents = [torch.randint(0, VOCAB, (50,), generator=generator) for _ in range(5)]
    return KneserNeyLM.fit(documents, VOCAB, order=3)


def exact_joint(model: CausalTransformer, filter_kwargs: dict | None = None) -> np.ndarray:
    """Probability of every continuation of PROMPT, in lexicographic order."""
    sequences = torch.tensor(list(itertools.product(range(VOCAB), repeat=LENGTH)))
    inputs = torch.cat([PROMPT.expand(len(sequences), -1), sequences[:, :-1]], dim=1)
    with torch.no_grad():
        log_probs = torch.log_softmax(model(inputs).double(), dim=-1)[:, PROMPT.shape[1] - 1 :]
    log_probs = filter_log_probs(log_probs, **(filter_kwargs or {}))
    return log_probs.gather(2, sequences[..., None])[..., 0].sum(1).exp().numpy()


def frequencies(tokens: torch.Tensor) -> np.ndarray:
    codes = (tokens * VOCAB ** torch.arange(LENGTH - 1, -1, -1)).sum(1)
    return np.bincount(codes.numpy(), minlength=VOCAB**LENGTH)


# -- filters and decoding configurations -------------------------------------------------


def test_filters_match_closed_forms():
    probs = torch.tensor([[0.5, 0.25, 0.125, 0.125]], dtype=torch.float64)
    log_probs = probs.log()
    # nucleus 0.75: tokens whose preceding mass is below 0.75 -> the first two
    assert torch.allclose(
        filter_log_probs(log_probs, top_p=0.75).exp(),
        torch.tensor([[2 / 3, 1 / 3, 0.0, 0.0]], dtype=torch.float64),
    )
    assert (filter_log_probs(log_probs, top_p=0.76).exp() > 0).sum() == 3
    assert torch.allclose(
        filter_log_probs(log_probs, top_k=1).exp(), torch.tensor([[1.0, 0, 0, 0]]).double()
    )
    tempered = probs.sqrt() / probs.sqrt().sum()
    assert torch.allclose(filter_log_probs(log_probs, temperature=2.0).exp(), tempered)


def test_decoding_configuration_errors():
    cases = [
        ({"strategy": "typical"}, "unknown decoding strategy 'typical'"),
        ({"strategy": "sample", "temperature": 0}, "temperature must be positive"),
        ({"strategy": "sample", "top_k": -1}, "top_k must be >= 0"),
        ({"strategy": "sample", "top_p": 0}, r"top_p must be in \(0, 1\]"),
        ({"strategy": "beam", "beam_width": 0}, "beam_width must be >= 1"),
        ({"strategy": "speculative", "lookahead": 0}, "lookahead must be >= 1"),
        ({"strategy": "speculative", "draft": "oracle"}, "draft must be 'ngram' or"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            Decoding.from_options(options)


def test_greedy_follows_the_argmax_and_beam_search_finds_the_best_sequence(draft):
    prompts = torch.tensor([[0, 1], [3, 3]])
    greedy = generate(NgramSession(draft, 2, 8), prompts, 3, Decoding("greedy"), None)
    for row, prompt in enumerate(prompts):
        history = prompt.tolist()
        for step in range(3):
            probs = draft.next_distributions(np.array([history[-2:]]))[0]
            history.append(int(probs.argmax()))
            assert greedy[row, step] == history[-1]

    # width V^(L-1) keeps every prefix: beam search is exhaustive
    beam = generate(
        NgramSession(draft, 2, 8), prompts, 3, Decoding("beam", beam_width=VOCAB**2), None
    )
    for row, prompt in enumerate(prompts):
        best, best_score = None, -math.inf
        for sequence in itertools.product(range(VOCAB), repeat=3):
            history, score = prompt.tolist(), 0.0
            for token in sequence:
                score += math.log(draft.next_distributions(np.array([history[-2:]]))[0, token])
                history.append(token)
            if score > best_score:
                best, best_score = sequence, score
        assert tuple(beam[row].tolist()) == best
    width_one = generate(NgramSession(draft, 2, 8), prompts, 3, Decoding("beam"), None)
    assert torch.equal(width_one, greedy)


def test_sample_categorical_draws_what_multinomial_draws():
    """Same ids as ``torch.multinomial`` from the same generator state (so
    switching to it kept every seeded sample), and the right frequencies."""
    probs = torch.tensor([[0.5, 0.25, 0.125, 0.125], [0.0, 0.0, 3.0, 1.0]], dtype=torch.float64)
    ours, theirs = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    draws = torch.stack([sample_categorical(probs, ours) for _ in range(4000)])
    reference = torch.stack(
        [torch.multinomial(probs, 1, generator=theirs)[:, 0] for _ in range(4000)]
    )
    assert torch.equal(draws, reference)
    assert torch.equal(torch.rand(3, generator=ours), torch.rand(3, generator=theirs))
    assert (draws[:, 1] >= 2).all()  # zero-probability ids are never drawn
    counts = np.bincount(draws[:, 0].numpy(), minlength=VOCAB)
    assert chisquare(counts, probs[0].numpy() * 4000).pvalue > 1e-3


def test_ngram_session_matches_the_model_and_its_capacity(draft):
    session = NgramSession(draft, 2, 6)
    log_probs = session.feed(torch.tensor([[3, 1, 0], [2, 2, 2]]))
    histories = [[draft.bos, draft.bos, 3, 1, 0], [draft.bos, draft.bos, 2, 2, 2]]
    for row, history in enumerate(histories):
        contexts = np.array([history[t + 1 : t + 3] for t in range(3)])
        assert np.array_equal(log_probs[row].numpy(), np.log(draft.next_distributions(contexts)))
    session.truncate(torch.tensor([1, 3]))
    session.append(torch.tensor([[2], [0]]))  # no distributions asked for
    after = session.feed(torch.tensor([[1], [1]]))[:, -1].numpy()
    assert np.array_equal(after, np.log(draft.next_distributions(np.array([[2, 1], [0, 1]]))))
    assert session.lengths.tolist() == [3, 5]
    with pytest.raises(ValueError, match="exceeds the session's capacity of 6"):
        session.feed(torch.tensor([[0, 0], [0, 0]]))
    with pytest.raises(ValueError, match="truncate can only shorten histories"):
        session.truncate(torch.tensor([4, 1]))


def test_one_context_distribution_is_bitwise_the_batched_one(draft):
    """Decoding steps ask for one context at a time (a separate code path)."""
    contexts = np.array([[a, b] for a in range(VOCAB + 1) for b in range(VOCAB + 1)])
    batched = draft.next_distributions(contexts)
    single = np.concatenate([draft.next_distributions(c[None]) for c in contexts])
    assert np.array_equal(batched, single)


def test_sampling_is_reproducible_from_its_generator(target):
    def draw(seed):
        return generate(
            TransformerSession(target, 5),
            PROMPT.expand(5, -1),
            6,
            Decoding("sample", top_k=3),
            RowStreams(row_seeds(seed, range(5))),
        )

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_batched_sampling_equals_sampling_each_row_alone(target):
    """Row i draws from its own stream, so the batch does not change it."""
    prompts = torch.tensor([[1, 2], [3, 0], [2, 2], [0, 1]])
    seeds = row_seeds(11, range(4))
    batched = generate(
        TransformerSession(target, 4), prompts, 7, Decoding("sample"), RowStreams(seeds)
    )
    for row in range(4):
        alone = generate(
            TransformerSession(target, 1),
            prompts[row : row + 1],
            7,
            Decoding("sample"),
            RowStreams(seeds[row : row + 1]),
        )
        assert torch.equal(alone[0], batched[row])
    assert len(set(seeds)) == 4
    with pytest.raises(ValueError, match="one random stream per row"):
        generate(TransformerSession(target, 4), prompts, 7, Decoding("sample"))
    with pytest.raises(ValueError, match="4 rows of probabilities for 2 streams"):
        RowStreams(seeds[:2]).sample(torch.ones(4, VOCAB))


# -- speculative sampling --------------------------------------------------------------------


def test_speculative_sampling_leaves_the_target_distribution_unchanged(target, draft):
    exact = exact_joint(target)
    tokens, stats = speculative_generate(
        TransformerSession(target, ROWS),
        NgramSession(draft, ROWS, 16),
        PROMPT.expand(ROWS, -1),
        LENGTH,
        lookahead=2,
        generator=torch.Generator().manual_seed(5),
    )
    observed = frequencies(tokens)
    assert chisquare(observed, exact * ROWS).pvalue > 1e-3
    direct = generate(
        TransformerSession(target, ROWS),
        PROMPT.expand(ROWS, -1),
        LENGTH,
        Decoding("sample"),
        RowStreams(row_seeds(6, range(ROWS))),
    )
    total_variation = 0.5 * np.abs(observed - frequencies(direct)).sum() / ROWS
    assert total_variation < 0.03
    # the draft disagrees often, so the test exercises rejections and residuals
    assert 0.1 < stats.acceptance_rate < 0.6

    # power: sampling from the draft alone is detected
    draft_only = generate(
        NgramSession(draft, ROWS, 16),
        PROMPT.expand(ROWS, -1),
        LENGTH,
        Decoding("sample"),
        RowStreams(row_seeds(7, range(ROWS))),
    )
    assert chisquare(frequencies(draft_only), exact * ROWS).pvalue < 1e-6


def test_speculative_sampling_preserves_a_filtered_target(target, draft):
    exact = exact_joint(target, {"temperature": 1.5, "top_k": 3})
    rows = 10_000
    tokens, _ = speculative_generate(
        TransformerSession(target, rows),
        NgramSession(draft, rows, 16),
        PROMPT.expand(rows, -1),
        LENGTH,
        lookahead=3,
        generator=torch.Generator().manual_seed(8),
        temperature=1.5,
        top_k=3,
    )
    observed, possible = frequencies(tokens), exact > 0
    assert observed[~possible].sum() == 0  # nothing outside the filtered support
    assert chisquare(observed[possible], exact[possible] * rows).pvalue > 1e-3


def test_a_draft_equal_to_the_target_is_always_accepted(target):
    tokens, stats = speculative_generate(
        TransformerSession(target, 50),
        TransformerSession(target, 50),
        PROMPT.expand(50, -1),
        9,
        lookahead=2,
        generator=torch.Generator().manual_seed(0),
    )
    assert tokens.shape == (50, 9)
    assert stats.accepted == stats.drafted
    assert stats.tokens_per_round == 3.0 and stats.rounds_per_row == 3.0


def test_speculative_errors(target, draft):
    with pytest.raises(ValueError, match="lookahead must be >= 1"):
        speculative_generate(
            TransformerSession(target, 1), NgramSession(draft, 1, 8), PROMPT, 2, 0, None
        )
    other = KneserNeyLM.fit([torch.tensor([0, 1, 2, 3, 4])], 5, 2)
    with pytest.raises(ValueError, match="vocabularies differ"):
        speculative_generate(
            TransformerSession(target, 1), NgramSession(other, 1, 8), PROMPT, 2, 1, None
        )


def test_speculative_sampling_is_exact_over_many_truncation_rounds():
    """Sequences of 8 binary tokens with 2 drafted per round (at most 3 tokens
    a round, so at least 3 rounds per row and many cut-back histories), a
    Transformer drafting for a Transformer: the 256 sequence frequencies
    match the target's exact joint distribution."""
    vocab, length, rows = 2, 8, 20_000

    def random_transformer(seed: int, scale: float) -> CausalTransformer:
        torch.manual_seed(seed)
        model = CausalTransformer(TransformerConfig(vocab, context=16, width=16, depth=1, heads=2))
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.dim() > 1:
                    parameter.mul_(scale)
        return model.eval()

    target, draft = random_transformer(0, 12.0), random_transformer(1, 12.0)
    prompt = torch.tensor([[1, 0]])
    sequences = torch.tensor(list(itertools.product(range(vocab), repeat=length)))
    inputs = torch.cat([prompt.expand(len(sequences), -1), sequences[:, :-1]], dim=1)
    with torch.no_grad():
        log_probs = torch.log_softmax(target(inputs).double(), dim=-1)[:, 1:]
    exact = log_probs.gather(2, sequences[..., None])[..., 0].sum(1).exp().numpy()

    def chi_square_pvalue(tokens: torch.Tensor) -> float:
        codes = (tokens * vocab ** torch.arange(length - 1, -1, -1)).sum(1)
        observed = np.bincount(codes.numpy(), minlength=vocab**length)
        expected = exact * rows
        small = expected < 5  # pooled into one cell
        observed = np.append(observed[~small], observed[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
        return chisquare(observed, expected).pvalue

    tokens, stats = speculative_generate(
        TransformerSession(target, rows),
        TransformerSession(draft, rows),
        prompt.expand(rows, -1),
        length,
        lookahead=2,
        generator=torch.Generator().manual_seed(12),
    )
    assert chi_square_pvalue(tokens) > 1e-3
    assert stats.rounds / stats.rows >= 3 and 0.2 < stats.acceptance_rate < 0.9
    # power: the draft's own samples are detected
    draft_only = generate(
        TransformerSession(draft, rows),
        prompt.expand(rows, -1),
        length,
        Decoding("sample"),
        RowStreams(row_seeds(13, range(rows))),
    )
    assert chi_square_pvalue(draft_only) < 1e-6
