"""The byte-level BPE tokeniser and the ``transformer-bpe`` model: exact
round trips, byte counts, deterministic training, and likelihoods that score
every byte of a document."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from genbench_text import plugin
from genbench_text.bpe import BYTE_OF_SYMBOL, BpeTokenizer
from genbench_text.specs import model_specs
from genbench_text.training import rolling_log_probs
from test_text_plugin import TinyTask
from tokenizers import pre_tokenizers

from genbench.checkpoints import Checkpoint

TEXTS = [
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n",
    "The slings and arrows of outrageous fortune,\n\nOr to take arms against a sea of troubles\n",
] * 3


@pytest.fixture(scope="module")
def tokeniser() -> BpeTokenizer:
    return BpeTokenizer.train(TEXTS, 300)


@pytest.mark.parametrize(
    "text",
    [TEXTS[0], "  two  spaces\tand a tab\n\n\n", "héllo wörld — “quoted” ∑ 😀", "", "x"],
)
def test_bpe_round_trips_the_exact_text_and_its_bytes(tokeniser, text):
    ids = tokeniser.encode(text)
    assert ids.dtype == torch.int64 and bool((ids < tokeniser.size).all())
    assert tokeniser.decode(ids) == text
    pieces = [tokeniser.token_bytes(int(i)) for i in ids]
    assert b"".join(pieces) == text.encode("utf-8")
    assert sum(map(len, pieces)) == len(text.encode("utf-8"))


def test_bpe_merges_frequent_pieces_and_trains_deterministically(tokeniser):
    assert 256 < tokeniser.size <= 300
    text = TEXTS[0]
    assert len(tokeniser.encode(text)) < 0.6 * len(text.encode("utf-8"))
    again = BpeTokenizer.train(TEXTS, 300)
    assert torch.equal(again.state(), tokeniser.state())
    restored = BpeTokenizer.from_state(tokeniser.state())
    assert torch.equal(restored.encode(text), tokeniser.encode(text))
    assert set(BYTE_OF_SYMBOL) == set(pre_tokenizers.ByteLevel.alphabet())
    assert sorted(BYTE_OF_SYMBOL.values()) == list(range(256))
    with pytest.raises(ValueError, match="more than 256 ids"):
        BpeTokenizer.train(TEXTS, 256)


def test_transformer_bpe_scores_the_canonical_tokens_of_every_document(tmp_path: Path):
    task = TinyTask()
    spec = next(s for s in model_specs() if s.name == "transformer-bpe")
    assert spec.options["tokenisation"] == "bpe"
    checkpoint = Checkpoint(tmp_path, {"network": "transformer-bpe"})
    model = plugin.fit(spec=spec, task=task, budget="smoke", seed=0, checkpoint=checkpoint)
    documents = task.likelihood_batch("smoke")
    result = plugin.log_likelihood(model=model, x=documents)
    texts = [task.vocabulary.decode(d) for d in documents]
    tokens = [model.tokeniser.encode(t) for t in texts]
    expected = [
        float(rolling_log_probs(model.network, t, model.network.bos, 192, 96).sum()) for t in tokens
    ]
    assert result.nats.tolist() == pytest.approx(expected, abs=1e-9)
    assert result.details["tokenisation"] == "bpe"
    assert result.details["tokens"] == sum(len(t) for t in tokens)
    assert result.details["tokens"] < sum(len(t.encode()) for t in texts)
    bytes_ = task.dimension_counts(documents)["byte"].sum()
    assert 0 < -result.nats.sum() / (bytes_ * math.log(2)) < 8
    # the reloaded checkpoint carries the same tokeniser and network
    reloaded = plugin.fit(spec=spec, task=task, budget="smoke", seed=0, checkpoint=checkpoint)
    assert torch.equal(reloaded.tokeniser.state(), model.tokeniser.state())
    assert plugin.log_likelihood(model=reloaded, x=documents).nats.tolist() == pytest.approx(
        result.nats.tolist(), abs=1e-12
    )
    info = plugin.model_info(model=model)
    assert info["bpe_vocabulary"] == model.tokeniser.size and info["generation_batch"] == 100
    samples = plugin.sample(model=model, n=4, seed=1)
    assert task.validate_samples(samples, 4) is samples
    assert plugin.sample(model=model, n=4, seed=1) == samples
