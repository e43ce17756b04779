"""Likelihood metrics: bits/dim, bits per char/byte, perplexities, dequantisation, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genbench.metrics.likelihood import dequantised_log_probability, likelihood_metrics


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_uniform_model_has_log2_levels_bits_per_dim(levels):
    dims = 784
    nats = np.full(10, -dims * math.log(levels))
    result = likelihood_metrics(nats, {"dim": np.full(10, dims)})
    assert result["bits_per_dim"] == pytest.approx(math.log2(levels), rel=1e-14)
    assert result["nll_nats"] == pytest.approx(dims * math.log(levels), rel=1e-14)
    assert set(result) == {"nll_nats", "bits_per_dim"}


def test_uniform_density_on_the_unit_cube_dequantises_to_log2_levels_bits():
    dims, levels = 3 * 32 * 32, 256
    log_p = dequantised_log_probability(np.zeros(4), dims, levels)
    bits = likelihood_metrics(log_p, {"dim": np.full(4, dims)})["bits_per_dim"]
    assert bits == pytest.approx(8.0, rel=1e-14)


def test_text_units_and_perplexities_follow_lm_eval():
    chars = np.array([10, 30, 60])
    nats = -chars * math.log(4.0)  # every character has probability 1/4
    counts = {"char": chars, "byte": 2 * chars, "word": chars // 5}
    result = likelihood_metrics(nats, counts)
    assert result["bits_per_char"] == pytest.approx(2.0)
    assert result["char_perplexity"] == pytest.approx(4.0)
    assert result["bits_per_byte"] == pytest.approx(1.0)
    assert result["byte_perplexity"] == pytest.approx(2.0)
    assert result["bits_per_byte"] == pytest.approx(math.log2(result["byte_perplexity"]))
    assert result["word_perplexity"] == pytest.approx(4.0**5)
    assert result["bits_per_word"] == pytest.approx(10.0)


def test_ratios_are_corpus_level_not_mean_of_ratios():
    result = likelihood_metrics(np.array([-2.0, -2.0]), {"char": np.array([1, 10])})
    assert result["bits_per_char"] == pytest.approx(4 / 11 / math.log(2))
    assert result["nll_nats"] == pytest.approx(2.0)


def test_rounding_above_zero_is_clipped_and_larger_positives_raise():
    result = likelihood_metrics(np.array([1e-9, -1.0]), {"dim": np.array([1, 1])})
    assert result["nll_nats"] == pytest.approx(0.5, rel=1e-15)
    with pytest.raises(ValueError, match=r"log-probability 0.5 nats > 0 at example 1"):
        likelihood_metrics(np.array([-1.0, 0.5]), {"dim": np.array([1, 1])})
    continuous = likelihood_metrics(np.array([1.5, 0.5]), {"dim": np.array([2, 2])}, discrete=False)
    assert continuous["nll_nats"] == pytest.approx(-1.0)
    assert continuous["bits_per_dim"] == pytest.approx(-0.5 / math.log(2))


@settings(max_examples=25, deadline=None)
@given(
    nats=st.lists(st.floats(-1e4, 0.0), min_size=1, max_size=20),
    scale=st.integers(1, 50),
)
def test_bits_scale_inversely_with_counts(nats, scale):
    log_p = np.array(nats)
    counts = np.arange(1, log_p.size + 1)
    base = likelihood_metrics(log_p, {"dim": counts})["bits_per_dim"]
    scaled = likelihood_metrics(log_p, {"dim": scale * counts})["bits_per_dim"]
    assert scaled == pytest.approx(base / scale, rel=1e-12, abs=1e-300)


def test_errors():
    counts = {"dim": np.array([4, 4])}
    with pytest.raises(ValueError, match=r"nats contains NaN or infinite values \(first at"):
        likelihood_metrics(np.array([-1.0, np.nan]), counts)
    with pytest.raises(ValueError, match="nats contains NaN or infinite"):
        likelihood_metrics(np.array([-1.0, -np.inf]), counts)
    with pytest.raises(ValueError, match="non-empty 1-D array"):
        likelihood_metrics(np.zeros((2, 2)), counts)
    with pytest.raises(ValueError, match=r"counts\['dim'\] must have shape \(3,\)"):
        likelihood_metrics(np.array([-1.0, -1.0, -1.0]), counts)
    with pytest.raises(ValueError, match="negative entries"):
        likelihood_metrics(np.array([-1.0, -1.0]), {"dim": np.array([4, -1])})
    with pytest.raises(ValueError, match="sums to 0"):
        likelihood_metrics(np.array([-1.0, -1.0]), {"char": np.array([0, 0])})
    with pytest.raises(ValueError, match=r"unit 'token' has no registered metric 'bits_per_token'"):
        likelihood_metrics(np.array([-1.0, -1.0]), {"token": np.array([3, 3])})
    with pytest.raises(ValueError, match="levels must be at least 2, got 1"):
        dequantised_log_probability(np.zeros(2), 4, 1)
    with pytest.raises(ValueError, match="dims must be at least 1, got 0"):
        dequantised_log_probability(np.zeros(2), 0, 256)
    with pytest.raises(ValueError, match="log_density_unit_cube contains NaN"):
        dequantised_log_probability(np.array([np.nan]), 4, 256)
