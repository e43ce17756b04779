"""Interpolated Kneser-Ney: a hand-computed bigram case, normalisation,
persistence and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.metrics.kneser_ney import KneserNeyLM

BOS = 2


@pytest.fixture
def bigram() -> KneserNeyLM:
    # document 0 0 0 1 -> bigrams (BOS,0) (0,0) (0,0) (0,1)
    return KneserNeyLM.fit([torch.tensor([0, 0, 0, 1])], vocab_size=2, order=2)


def test_discounts_from_counts_of_counts(bigram):
    # order 2 raw counts 1, 2, 1 -> D = 2 / (2 + 2 * 1); order 1 continuation
    # counts (0: after BOS and 0 -> 2, 1: after 0 -> 1) -> D = 1 / (1 + 2)
    assert bigram.tables[1].discount == pytest.approx(0.5)
    assert bigram.tables[0].discount == pytest.approx(1 / 3)


def test_hand_computed_bigram_probabilities(bigram):
    # p1 = ((2 - 1/3)/3 + (1/3)(2/3)(1/2), (1 - 1/3)/3 + (1/3)(2/3)(1/2)) = (2/3, 1/3)
    # p(.|0) = ((2 - .5)/3 + .5 * 2/3 * p1(w)) -> (13/18, 5/18)
    # p(.|BOS) = ((1 - .5)/1 + .5 * 1 * p1(0), .5 * p1(1)) -> (5/6, 1/6)
    # p(.|1): unseen context -> p1
    probs = bigram.next_distributions(np.array([[0], [BOS], [1]]))
    assert np.allclose(probs, [[13 / 18, 5 / 18], [5 / 6, 1 / 6], [2 / 3, 1 / 3]])
    expected = math.log(5 / 6) + 2 * math.log(13 / 18) + math.log(5 / 18)
    assert bigram.log_prob(torch.tensor([0, 0, 0, 1])) == pytest.approx(expected)


def test_distributions_normalise_and_match_token_scores():
    rng = np.random.default_rng(0)
    documents = [torch.from_numpy(rng.integers(0, 7, size=n)) for n in (40, 3, 25)]
    model = KneserNeyLM.fit(documents, vocab_size=7, order=4)
    contexts = rng.integers(0, 8, size=(64, 3))  # ids and BOS = 7
    assert np.allclose(model.next_distributions(contexts).sum(axis=1), 1.0)
    document = rng.integers(0, 7, size=30)
    padded = np.concatenate([np.full(3, 7), document])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 4)
    step_by_step = np.log(model.next_distributions(windows[:, :3])[np.arange(30), document])
    assert np.allclose(model.token_log_probs(document), step_by_step)


def test_state_dict_round_trip(bigram):
    restored = KneserNeyLM.from_state_dict(bigram.state_dict())
    document = torch.tensor([1, 0, 0, 1, 1])
    assert restored.log_prob(document) == bigram.log_prob(document)
    assert restored.order == 2 and restored.vocab_size == 2


def test_unigram_order_one_is_supported():
    model = KneserNeyLM.fit([torch.tensor([0, 1, 2])], vocab_size=3, order=1)
    assert np.allclose(model.next_distributions(np.zeros((2, 0))), 1 / 3)


def test_errors_are_explained(bigram):
    with pytest.raises(ValueError, match="order must be at least 1"):
        KneserNeyLM.fit([torch.tensor([0])], vocab_size=2, order=0)
    with pytest.raises(ValueError, match="overflows 64-bit"):
        KneserNeyLM.fit([torch.tensor([0])], vocab_size=255, order=8)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 2\)"):
        KneserNeyLM.fit([torch.tensor([0, 5])], vocab_size=2, order=2)
    with pytest.raises(ValueError, match="no tokens"):
        KneserNeyLM.fit([torch.tensor([], dtype=torch.int64)], vocab_size=2, order=2)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 2\)"):
        bigram.log_prob(torch.tensor([3]))


def test_repetitive_data_without_singletons_keeps_every_token_possible():
    model = KneserNeyLM.fit([torch.tensor([0, 1] * 10), torch.tensor([0, 1] * 10)], 3, order=2)
    assert model.tables[-1].discount == 0.5  # bigram counts 20, 18, 2: no singletons
    assert (model.next_distributions(np.array([[0], [1], [3]])) > 0).all()


def test_memoised_log_probs_equal_fresh_ones_and_the_memo_is_bounded(bigram, monkeypatch):
    import genbench.metrics.kneser_ney as kneser_ney

    monkeypatch.setattr(kneser_ney, "MEMO_LIMIT", 2)
    contexts = np.array([[0], [BOS], [0], [1]])
    expected = np.log(bigram.next_distributions(contexts))
    assert np.array_equal(bigram.next_log_probs(contexts[:3]), expected[:3])
    assert len(bigram._memo) == 2
    assert np.array_equal(bigram.next_log_probs(contexts), expected)  # overflow: memo emptied
    assert len(bigram._memo) == 3  # one batch is always kept whole
