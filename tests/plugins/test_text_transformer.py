"""The Transformer, its ragged KV cache, sessions, prompts and training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from genbench_text.prompts import PromptSource
from genbench_text.sessions import NgramSession, TransformerSession
from genbench_text.training import TrainingConfig, token_stream, train_language_model
from genbench_text.transformer import CausalTransformer, TransformerConfig

from genbench.metrics.kneser_ney import KneserNeyLM


@pytest.fixture(scope="module")
def model() -> CausalTransformer:
    torch.manual_seed(0)
    network = CausalTransformer(TransformerConfig(6, context=12, width=16, depth=2, heads=4))
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return network.eval()


def test_cached_incremental_logits_equal_a_full_forward(model):
    ids = torch.tensor([[6, 1, 2, 3, 4, 5, 0, 1]])
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(1)
        pieces = [model(ids[:, :3], cache), model(ids[:, 3:4], cache), model(ids[:, 4:], cache)]
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)
    assert cache.lengths.tolist() == [8]


def test_ragged_rows_match_separate_runs_after_truncation(model):
    a, b = torch.tensor([[1, 2, 3, 4]]), torch.tensor([[5, 4, 3, 2]])
    session = TransformerSession(model, 2)
    session.feed(torch.cat([a, b]))
    session.truncate(torch.tensor([4, 2]))  # row 1 forgets its last two tokens
    both = session.feed(torch.tensor([[0], [1]]))[:, -1]
    alone_a = TransformerSession(model, 1).feed(torch.tensor([[1, 2, 3, 4, 0]]))[:, -1]
    alone_b = TransformerSession(model, 1).feed(torch.tensor([[5, 4, 1]]))[:, -1]
    assert torch.allclose(both[0], alone_a[0], atol=1e-6)
    assert torch.allclose(both[1], alone_b[0], atol=1e-6)
    assert torch.allclose(both.exp().sum(dim=-1), torch.ones(2, dtype=torch.float64))


def test_select_reorders_and_repeats_rows(model):
    session = TransformerSession(model, 2)
    first = session.feed(torch.tensor([[1, 2], [3, 4]]))[:, -1]
    session.select(torch.tensor([1, 1, 0]))
    after = session.feed(torch.tensor([[0], [0], [0]]))[:, -1]
    direct = TransformerSession(model, 2).feed(torch.tensor([[3, 4, 0], [1, 2, 0]]))[:, -1]
    assert torch.allclose(after, direct[[0, 0, 1]], atol=1e-6)
    assert not torch.allclose(first[0], first[1])


def test_ngram_session_pads_short_histories_with_bos():
    model = KneserNeyLM.fit([torch.tensor([0, 1, 2, 0, 1, 2, 1])], 3, order=3)
    session = NgramSession(model, 1, capacity=4)
    log_probs = session.feed(torch.tensor([[2, 1]]))[0]
    expected = model.next_distributions(np.array([[3, 2], [2, 1]]))
    assert np.allclose(log_probs.exp().numpy(), expected)
    with pytest.raises(ValueError, match="exceeds the session's capacity of 4"):
        session.feed(torch.tensor([[0, 0, 0]]))
    with pytest.raises(ValueError, match="truncate can only shorten"):
        session.truncate(torch.tensor([5]))


def test_transformer_errors(model):
    with pytest.raises(ValueError, match="width 10 is not divisible by heads 4"):
        TransformerConfig(5, width=10, heads=4)
    with pytest.raises(ValueError, match="sizes must be positive"):
        TransformerConfig(5, depth=0)
    with pytest.raises(ValueError, match=r"attention_dropout must be in \[0, 1\), got 1.0"):
        TransformerConfig(5, attention_dropout=1.0)
    with pytest.raises(ValueError, match=r"^dropout must be in \[0, 1\), got -0.1"):
        TransformerConfig(5, dropout=-0.1)
    cache = model.new_cache(1)
    with pytest.raises(ValueError, match="13 positions exceed the cache's context of 12"):
        model(torch.zeros(1, 13, dtype=torch.int64), cache)
    with pytest.raises(ValueError, match="truncate can only shorten"):
        cache.truncate(torch.tensor([1]))


@pytest.mark.parametrize("rate", ["dropout", "attention_dropout"])
def test_each_dropout_rate_acts_in_training_only(model, rate):
    ids = torch.tensor([[6, 1, 2, 3, 4, 5, 0, 1]])
    config = TransformerConfig(6, context=12, width=16, depth=2, heads=4, **{rate: 0.5})
    noisy = CausalTransformer(config)
    noisy.load_state_dict(model.state_dict())
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(1)
        assert torch.equal(noisy.eval()(ids), model(ids))  # eval: no dropout
        first, second = noisy.train()(ids), noisy(ids)
        assert torch.equal(model.train()(ids), model.eval()(ids))  # rates 0: train = eval
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, model(ids))


def test_prompts_lie_inside_one_document_and_follow_the_seed():
    documents = [torch.arange(10), torch.arange(100, 103), torch.arange(200, 206)]
    source = PromptSource(documents, length=4)
    prompts = source.draw(50, np.random.default_rng(0))
    assert prompts.shape == (50, 4)
    assert bool(((prompts[:, 1:] - prompts[:, :-1]) == 1).all())  # contiguous
    assert set(prompts[:, 0].div(100, rounding_mode="floor").tolist()) == {0, 2}
    assert torch.equal(prompts, source.draw(50, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="no training document holds a 20-token prompt"):
        PromptSource(documents, length=20)
    with pytest.raises(ValueError, match="prompt length must be positive"):
        PromptSource(documents, length=0)


def test_learning_rate_schedule_warms_up_then_decays_to_a_tenth():
    config = TrainingConfig(steps=100, batch_size=1, window=4, learning_rate=1.0)
    assert config.learning_rate_at(0) == pytest.approx(1 / 5)
    assert config.learning_rate_at(4) == pytest.approx(1.0)
    assert config.learning_rate_at(99) == pytest.approx(
        0.1 + 0.45 * (1 + math.cos(math.pi * 94 / 95))
    )


def test_training_learns_a_deterministic_sequence():
    documents = [torch.tensor([0, 1, 2, 3] * 20)]
    assert token_stream(documents, bos=4)[:6].tolist() == [4, 0, 1, 2, 3, 0]
    torch.manual_seed(0)
    network = CausalTransformer(TransformerConfig(4, context=16, width=16, depth=1, heads=2))
    config = TrainingConfig(steps=60, batch_size=8, window=8, learning_rate=1e-2)
    losses = train_language_model(network, documents, 4, config, seed=0)
    assert losses[0] > 1.0 and np.mean(losses[-5:]) < 0.1  # nats per token
    with pytest.raises(ValueError, match="too few for windows of 100"):
        train_language_model(
            network, documents, 4, TrainingConfig(1, 1, window=100, learning_rate=1e-3), 0
        )
