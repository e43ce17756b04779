"""Text sample metrics pinned by hand-computed and reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.metrics.info import METRICS
from genbench.metrics.kneser_ney import KneserNeyLM
from genbench.metrics.mauve import (
    area_under_frontier,
    divergence_frontier,
    kl_divergence,
    mauve,
    mauve_from_histograms,
)
from genbench.metrics.text import (
    distinct_n,
    generative_perplexity,
    repetition_rate,
    self_bleu,
    text_sample_metrics,
)

# -- distinct-n -------------------------------------------------------------------


def test_distinct_n_is_corpus_level():
    samples = ["a b a", "a b c"]
    # unigrams a b a a b c: 3 distinct of 6; bigrams ab ba ab bc: 3 of 4
    assert distinct_n(samples, 1) == pytest.approx(3 / 6)
    assert distinct_n(samples, 2) == pytest.approx(3 / 4)
    assert distinct_n(samples, 3) == pytest.approx(2 / 2)


def test_distinct_n_without_ngrams_is_zero_and_bad_n_raises():
    assert distinct_n(["one", "two"], 2) == 0.0
    with pytest.raises(ValueError, match="n must be >= 1"):
        distinct_n(["a"], 0)
    with pytest.raises(TypeError, match="list of str"):
        distinct_n("a b", 1)


# -- repetition rate ------------------------------------------------------------


def test_repetition_rate_is_mean_within_sample_rep4():
    looping = "a b c a b c a b c"  # 6 four-grams, 3 distinct -> 0.5
    fresh = "a b c d e"  # 2 four-grams, both distinct -> 0
    short = "a b"  # left out
    assert repetition_rate([looping, fresh, short]) == pytest.approx(0.25)
    assert repetition_rate([short]) == 0.0
    with pytest.raises(ValueError, match="n must be >= 1"):
        repetition_rate([looping], n=0)


# -- self-BLEU --------------------------------------------------------------------


def test_self_bleu_identical_is_one_disjoint_is_zero_and_zero_counts_are_smoothed():
    assert self_bleu(["a b c d", "a b c d"]) == pytest.approx(1.0)
    assert self_bleu(["a b c d", "e f g h"]) == 0.0  # no unigram in common
    # one unigram in common: 1/4, then zero counts smoothed to 0.1/3, 0.1/2, 0.1/1
    expected = math.exp((math.log(1 / 4) + math.log(0.1 / 3) + math.log(0.05) + math.log(0.1)) / 4)
    assert self_bleu(["a b c d", "a x y z"]) == pytest.approx(expected)


def test_self_bleu_hand_computed_precisions_and_brevity_penalty():
    # 4/5, 3/4, 2/3, 1/2 clipped precisions, equal lengths
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert self_bleu(["a b c d e", "a b c d f"]) == pytest.approx(expected)
    # short hypothesis (4 vs 8 words): precisions 1, brevity penalty e^(1 - 8/4);
    # long one: precisions 4/8, 3/7, 2/6, 1/5, no penalty
    short = math.exp(1 - 8 / 4)
    long = (4 / 8 * 3 / 7 * 2 / 6 * 1 / 5) ** 0.25
    assert self_bleu(["a b c d", "a b c d e f g h"]) == pytest.approx((short + long) / 2)


def test_self_bleu_clips_counts_by_the_best_other_reference():
    # "the" x4 against references holding it at most twice: 2/4
    samples = ["the the the the", "the the x y", "the z w v"]
    hypothesis_0 = math.exp(
        (math.log(2 / 4) + math.log(1 / 3) + math.log(0.1 / 2) + math.log(0.1 / 1)) / 4
    )
    # sample 1 against samples 0 and 2: unigrams the,the matched (x, y not): 2/4;
    # bigram "the the" matched 1 of 3; no trigram or 4-gram matches
    hypothesis_1 = math.exp(
        (math.log(2 / 4) + math.log(1 / 3) + math.log(0.1 / 2) + math.log(0.1 / 1)) / 4
    )
    hypothesis_2 = math.exp(
        (math.log(1 / 4) + math.log(0.1 / 3) + math.log(0.1 / 2) + math.log(0.1 / 1)) / 4
    )
    expected = (hypothesis_0 + hypothesis_1 + hypothesis_2) / 3
    assert self_bleu(samples) == pytest.approx(expected)


def test_self_bleu_matches_nltk_reference_values():
    # reference values from nltk.translate.bleu_score.sentence_bleu (nltk
    # 3.10) with SmoothingFunction().method1, one per hypothesis
    samples = [
        "the cat sat on the mat",
        "the cat sat on a mat today",
        "a dog sat on the mat",
        "the mat",
    ]
    reference = np.mean(
        [0.8633400213704505, 0.45499414040480374, 0.537284965911771, 0.04279677428117006]
    )
    assert self_bleu(samples) == pytest.approx(reference, rel=1e-9)


def test_self_bleu_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        self_bleu(["a b c d"])


# -- generative perplexity ----------------------------------------------------------


def test_generative_perplexity_of_uniform_reference_is_vocab_size():
    vocab = list("ab ")
    encode = lambda text: torch.tensor([vocab.index(c) for c in text])  # noqa: E731
    # a unigram model fitted on every symbol once: continuation counts 1 each,
    # D = 1/(1+0) = 1, so p = uniform and perplexity = 3 exactly
    reference = KneserNeyLM.fit([torch.tensor([0, 1, 2])], vocab_size=3, order=1)
    assert generative_perplexity(["ab a", "b"], encode, reference) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="at least one token"):
        generative_perplexity(["", ""], encode, reference)


# -- MAUVE ------------------------------------------------------------------------------


def test_kl_divergence_closed_form_and_infinite_support():
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert kl_divergence(p, q) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert kl_divergence(p, np.array([1.0, 0.0])) == math.inf


def test_mauve_of_identical_histograms_is_exactly_one():
    h = np.array([0.2, 0.3, 0.5])
    assert mauve_from_histograms(h, h) == pytest.approx(1.0, abs=1e-12)


def test_mauve_of_disjoint_histograms_matches_closed_form_frontier():
    p, q = np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.3, 0.7])
    # R_l = l p + (1-l) q: KL(q||R) = -log(1-l), KL(p||R) = -log(l)
    weights = np.linspace(1e-6, 1 - 1e-6, 25)
    points = np.array([[1.0, 0.0], *zip((1 - weights) ** 5, weights**5, strict=True), [0.0, 1.0]])
    assert np.allclose(divergence_frontier(p, q), points)
    value = mauve_from_histograms(p, q)
    assert value == pytest.approx(area_under_frontier(points))
    # the continuous frontier's area is 5 B(6, 5) = 1/252; the 25-point one is close
    assert value == pytest.approx(1 / 252, abs=2e-3)


def test_mauve_histogram_checks():
    with pytest.raises(ValueError, match="sum to 1"):
        divergence_frontier(np.array([0.5, 0.6]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="differ in size"):
        divergence_frontier(np.array([1.0]), np.array([0.5, 0.5]))


def test_mauve_on_features_same_versus_separated_sets():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 8))
    same = mauve(real, real.copy(), seeds=(0, 1))
    assert same.mean == pytest.approx(1.0, abs=1e-9)
    assert same.std == pytest.approx(0.0, abs=1e-9)
    assert same.clusters == 20
    far = mauve(real, rng.normal(size=(200, 8)) + 50.0, seeds=(0, 1))
    assert far.mean < 0.01
    near = mauve(real, rng.normal(size=(200, 8)), seeds=(0, 1, 2))
    assert 0.5 < near.mean < 1.0
    assert len(near.values) == 3
    assert near.std == pytest.approx(np.std(near.values))


def _direction_clusters(seed: int, n: int, weights: np.ndarray, dim: int = 16) -> np.ndarray:
    """``n`` points around ``len(weights)`` unit directions (drawn with those
    probabilities), each scaled by a random factor in [0.2, 5]."""
    centres = np.random.default_rng(0).standard_normal((len(weights), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    points = centres[rng.choice(len(weights), n, p=weights)] + 0.01 * rng.standard_normal((n, dim))
    return points * rng.uniform(0.2, 5.0, (n, 1))


def test_mauve_is_invariant_to_positive_rescaling_of_each_row():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 8)) + 0.5
    generated = rng.normal(size=(150, 8)) + 0.8
    base = mauve(real, generated, seeds=(0, 1))
    rescaled = mauve(
        real * rng.uniform(0.1, 10.0, (200, 1)),
        generated * rng.uniform(0.1, 10.0, (150, 1)),
        seeds=(0, 1),
    )
    assert rescaled.values == pytest.approx(base.values, rel=1e-12)


@pytest.mark.parametrize(("clusters", "seed"), [(4, 0), (4, 1), (5, 0), (5, 1)])
def test_mauve_equals_the_reference_implementation_on_direction_clusters(clusters, seed):
    # Tight clusters of directions at random scales: once rows are scaled to
    # unit length both k-means implementations find the same clusters, so
    # the histograms and MAUVE agree exactly with mauve-text's compute_mauve.
    compute_mauve = pytest.importorskip("mauve").compute_mauve
    weights = np.arange(1, clusters + 1) / (clusters * (clusters + 1) / 2)
    real = _direction_clusters(2 * seed + 1, 400, np.full(clusters, 1 / clusters))
    generated = _direction_clusters(2 * seed + 2, 300, weights)
    reference = compute_mauve(p_features=real, q_features=generated, num_buckets=clusters)
    ours = mauve(real, generated, seeds=(0,), clusters=clusters)
    assert ours.mean == pytest.approx(reference.mauve, rel=1e-12)


def test_mauve_input_errors():
    real = np.zeros((10, 3))
    with pytest.raises(ValueError, match="differ in dimension"):
        mauve(real, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        mauve(real, np.full((10, 3), np.nan))
    with pytest.raises(ValueError, match="at least 2 rows"):
        mauve(real, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="clusters must be between"):
        mauve(real, real, clusters=100)
    with pytest.raises(ValueError, match="at least one seed"):
        mauve(real, real, seeds=())


# -- all together ---------------------------------------------------------------------


def test_text_sample_metrics_reports_every_registered_metric():
    vocab = sorted(set("abc xyz"))
    encode = lambda text: torch.tensor([vocab.index(c) for c in text])  # noqa: E731
    reference_lm = KneserNeyLM.fit([encode("abc abc xyz")], vocab_size=len(vocab), order=2)
    samples = ["abc xyz abc", "xyz xyz", "abc abc abc", "a b c"]
    reference = ["abc xyz", "xyz abc", "abc", "xyz"]

    def embed(texts):
        return np.array([[t.count("a"), t.count("x"), len(t)] for t in texts], dtype=np.float32)

    result = text_sample_metrics(samples, reference, encode, reference_lm, embed)
    assert set(result) == {
        "distinct_1",
        "distinct_2",
        "distinct_3",
        "self_bleu",
        "repetition_rate",
        "generative_perplexity",
        "mauve_mean",
        "mauve_std",
    }
    assert all(METRICS[name].modalities == ("text",) for name in result)
    assert result["distinct_1"] == pytest.approx(distinct_n(samples, 1))
    assert result["generative_perplexity"] == pytest.approx(
        generative_perplexity(samples, encode, reference_lm)
    )
