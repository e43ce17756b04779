"""The text plugin's hooks on a tiny corpus at the smoke budget."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
import torch
from genbench_text import plugin
from genbench_text.specs import SPECULATIVE, TRANSFORMER_BUDGETS, model_specs
from genbench_text.training import rolling_log_probs
from genbench_text.transformer import CausalTransformer, TransformerConfig

from genbench.checkpoints import Checkpoint
from genbench.metrics.kneser_ney import KneserNeyLM
from genbench.tasks.text import PydocTask, TextTask
from genbench.tasks.text_formats import CorpusSplits

SENTENCES = [
    "the cat sat on the mat. ",
    "a dog ran in the park. ",
    "we read the book today. ",
    "it rains in the north. ",
]


class TinyTask(TextTask):
    name = "text/tiny"
    sample_tokens = 24
    prompt_tokens = 8
    eval_samples = MappingProxyType({"smoke": 6, "default": 6, "full": 6})

    def _corpus(self) -> CorpusSplits:
        documents = ["".join(SENTENCES[(i + j) % 4] for j in range(6 + i % 3)) for i in range(10)]
        return CorpusSplits(train=documents[:8], test=documents[8:])


@pytest.fixture(scope="module")
def task() -> TinyTask:
    return TinyTask()


def fitted(name: str, task: TinyTask, cache: Path):
    spec = next(s for s in model_specs() if s.name == name)
    checkpoint = Checkpoint(cache, {"network": spec.trains_as or spec.name})
    return plugin.fit(spec=spec, task=task, budget="smoke", seed=0, checkpoint=checkpoint)


def test_rows_cover_every_decoding_and_share_a_network():
    specs = {spec.name: spec for spec in model_specs()}
    suffixes = ["", "-greedy", "-t0.7", "-topk10", "-nucleus0.9", "-beam4"]
    for base in ("ngram", "transformer"):
        for suffix in suffixes:
            spec = specs[base + suffix]
            assert spec.trains_as == ("" if suffix == "" else base)
            assert ("log_likelihood" in spec.capabilities) == (suffix == "")
    assert specs["transformer-speculative"].options["decoding"]["strategy"] == "speculative"
    assert "ngram-speculative" not in specs


@pytest.mark.parametrize("name", ["ngram", "ngram-beam4", "transformer-nucleus0.9"])
def test_samples_have_the_task_format_and_follow_the_seed(name, task, tmp_path):
    model = fitted(name, task, tmp_path)
    samples = plugin.sample(model=model, n=5, seed=3)
    assert task.validate_samples(samples, 5) is samples
    assert all(len(s) == task.sample_tokens for s in samples)
    assert plugin.sample(model=model, n=5, seed=3) == samples


def test_ngram_likelihood_is_its_exact_kneser_ney_probability(task, tmp_path):
    model = fitted("ngram", task, tmp_path)
    x = task.likelihood_batch("smoke")
    result = plugin.log_likelihood(model=model, x=x)
    reference = KneserNeyLM.fit(task.load().train, task.vocabulary.size, order=3)
    assert result.exact and result.method == "exact"
    assert np.allclose(result.nats, [reference.log_prob(d) for d in x])
    assert result.details == {"order": 3}


def test_rolling_likelihood_predicts_every_token_once_with_enough_context():
    torch.manual_seed(0)
    model = CausalTransformer(TransformerConfig(5, context=8, width=8, depth=1, heads=2)).eval()
    document = torch.randint(0, 5, (19,))
    inputs = torch.cat([torch.tensor([5]), document[:-1]])

    def direct(position: int, history: int) -> float:
        """log p(x_position) from the last `history` inputs only."""
        start = max(0, position + 1 - history)
        with torch.no_grad():
            logits = model(inputs[start : position + 1][None])[0, -1]
        return float(torch.log_softmax(logits.double(), -1)[document[position]])

    rolled = rolling_log_probs(model, document, bos=5, context=8, stride=4)
    # window starts 0, 4, 8, 12: tokens 0-7 see all history, then windows of 8
    expected = [direct(t, t + 1 if t < 8 else 8 - (3 - (t - 8) % 4)) for t in range(19)]
    assert np.allclose(rolled, expected, atol=1e-9)
    # a document within one window is scored with its whole history
    short = document[:8]
    assert np.allclose(
        rolling_log_probs(model, short, 5, 8, 4), [direct(t, t + 1) for t in range(8)], atol=1e-9
    )
    with pytest.raises(ValueError, match=r"stride must be in \(0, context=8\]"):
        rolling_log_probs(model, document, 5, 8, 9)


def test_transformer_trains_once_and_rows_reuse_its_checkpoint(task, tmp_path):
    base = fitted("transformer", task, tmp_path)
    greedy = fitted("transformer-greedy", task, tmp_path)
    for a, b in zip(base.network.parameters(), greedy.network.parameters(), strict=True):
        assert torch.equal(a, b)
    result = plugin.log_likelihood(model=base, x=task.likelihood_batch("smoke"))
    chars = task.dimension_counts(task.likelihood_batch("smoke"))["char"].sum()
    bits = -result.nats.sum() / chars / math.log(2)
    assert 0 < bits < math.log2(task.vocabulary.size)  # better than uniform after training
    assert result.details == {"context": 192, "stride": 96}
    info = plugin.model_info(model=base)
    assert info == {
        "parameters": base.network.parameter_count(),
        "nfe": 24.0,
        "generation_batch": 100.0,
    }


@pytest.mark.parametrize("budget", ["smoke", "default", "full"])
def test_transformer_budgets_build_and_train_within_the_context(budget):
    hyper = TRANSFORMER_BUDGETS[budget]
    config = TransformerConfig(
        vocab_size=103,
        context=hyper["context"],
        width=hyper["width"],
        depth=hyper["depth"],
        heads=hyper["heads"],
        dropout=hyper["dropout"],
        attention_dropout=hyper["attention_dropout"],
    )
    assert hyper["window"] <= config.context
    # speculative generation holds the prompt, the sample and the draft look-ahead
    lookahead = SPECULATIVE["-speculative"]["lookahead"]
    assert config.context >= PydocTask.prompt_tokens + PydocTask.sample_tokens + lookahead + 1


def test_fit_builds_the_budget_s_dropout_rates(task, tmp_path):
    spec = next(s for s in model_specs() if s.name == "transformer")
    smoke = {**TRANSFORMER_BUDGETS["smoke"], "dropout": 0.25, "attention_dropout": 0.125}
    spec = dataclasses.replace(spec, budgets={"smoke": smoke})
    checkpoint = Checkpoint(tmp_path, {"network": "transformer", "dropout": "custom"})
    model = plugin.fit(spec=spec, task=task, budget="smoke", seed=0, checkpoint=checkpoint)
    assert model.network.config.dropout == 0.25
    assert model.network.config.attention_dropout == 0.125
    assert not model.network.training


@pytest.mark.parametrize("name", ["transformer-speculative", "transformer-speculative-tdraft"])
def test_speculative_row_reports_its_calibrated_acceptance(name, task, tmp_path):
    model = fitted(name, task, tmp_path)
    draft_type = CausalTransformer if name.endswith("tdraft") else KneserNeyLM
    assert isinstance(model.draft, draft_type)
    info = plugin.model_info(model=model)
    stats = model.calibration
    assert info["acceptance_rate"] == stats.accepted / stats.drafted
    assert 1.0 <= info["tokens_per_target_call"] <= 5.0
    assert info["nfe"] == pytest.approx(stats.rounds / stats.rows)
    assert info["nfe"] < task.sample_tokens
    assert len(plugin.sample(model=model, n=3, seed=0)) == 3


def test_foreign_objects_are_not_answered(task, tmp_path):
    from genbench import ModelSpec

    other = ModelSpec(name="someone-else", family="vae", modalities=("image",))
    checkpoint = Checkpoint(tmp_path, {"x": 1})
    assert plugin.fit(spec=other, task=task, budget="smoke", seed=0, checkpoint=checkpoint) is None
    assert plugin.sample(model=object(), n=1, seed=0) is None
    assert plugin.log_likelihood(model=object(), x=[]) is None
    assert plugin.model_info(model=object()) is None


def test_a_non_text_task_is_refused(tmp_path):
    spec = next(s for s in model_specs() if s.name == "ngram")

    class NotText:
        name = "image/fake"

    with pytest.raises(TypeError, match="needs a text task, got 'image/fake'"):
        plugin.fit(
            spec=spec, task=NotText(), budget="smoke", seed=0, checkpoint=Checkpoint(tmp_path, {})
        )
