"""Metric metadata: every required name registered, registration validated."""

from __future__ import annotations

import pytest

from genbench.metrics import info
from genbench.metrics.info import KINDS, METRICS, MetricInfo, metric_info, register_metric
from genbench.specs import MODALITIES

REQUIRED = (
    "fid",
    "kid_mean",
    "kid_std",
    "kid_subset_size",
    "precision",
    "recall",
    "density",
    "coverage",
    "inception_score_mean",
    "inception_score_std",
    "memorisation_fraction",
    "memorisation_median_ratio",
    "nll_nats",
    "bits_per_dim",
    "bits_per_char",
    "bits_per_byte",
    "bits_per_word",
    "char_perplexity",
    "byte_perplexity",
    "word_perplexity",
    "recon_mse",
    "recon_psnr",
    "samples_per_second",
    "train_seconds",
    "sample_seconds",
    "parameters",
    "nfe",
    "modes_reached",
    "modes_covered",
    "high_quality_fraction",
    "true_log_density",
)


@pytest.fixture
def clean_registry():
    before = dict(info._REGISTRY)
    yield
    info._REGISTRY.clear()
    info._REGISTRY.update(before)


def _info(**overrides) -> MetricInfo:
    fields = {
        "name": "test_metric",
        "unit": "1",
        "higher_is_better": True,
        "modalities": ("text",),
        "description": "A metric for tests.",
        "kind": "sample",
    }
    fields.update(overrides)
    return MetricInfo(**fields)


@pytest.mark.parametrize("name", REQUIRED)
def test_required_metric_is_registered_with_complete_metadata(name):
    record = metric_info(name)
    assert record.name == name
    assert record.unit.strip() and record.description.strip()
    assert record.kind in KINDS
    assert record.modalities and set(record.modalities) <= set(MODALITIES)
    assert record.higher_is_better in (True, False, None)


def test_directions_of_headline_metrics():
    lower = ("fid", "kid_mean", "nll_nats", "bits_per_dim", "recon_mse", "memorisation_fraction")
    assert all(METRICS[name].higher_is_better is False for name in lower)
    higher = ("precision", "recall", "density", "coverage", "inception_score_mean", "recon_psnr")
    assert all(METRICS[name].higher_is_better is True for name in higher)
    assert METRICS["kid_std"].higher_is_better is None
    assert METRICS["nll_nats"].unit == "nats/example"
    assert METRICS["bits_per_dim"].unit == "bits/dim"
    assert METRICS["train_seconds"].unit == "s"


def test_register_and_look_up(clean_registry):
    record = register_metric(_info())
    assert metric_info("test_metric") is record
    assert register_metric(_info()) == record  # identical re-registration is a no-op
    with pytest.raises(ValueError, match="already registered with different metadata"):
        register_metric(_info(unit="bits"))
    with pytest.raises(ValueError, match="already registered"):
        register_metric(_info(name="fid"))
    with pytest.raises(TypeError, match="expects a MetricInfo"):
        register_metric({"name": "x"})


def test_unknown_name_suggests_close_ones():
    with pytest.raises(KeyError, match="unknown metric 'precison'; did you mean precision"):
        metric_info("precison")
    with pytest.raises(KeyError, match=r"unknown metric 'zzz'\"?$"):
        metric_info("zzz")


@pytest.mark.parametrize("name", ["FID", "kid-mean", " fid", "", "2fid", "a/b"])
def test_invalid_names_raise(name):
    with pytest.raises(ValueError, match="must be lower-case snake case"):
        _info(name=name)


def test_invalid_fields_raise():
    with pytest.raises(ValueError, match="needs a unit"):
        _info(unit=" ")
    with pytest.raises(ValueError, match="higher_is_better must be True, False or None"):
        _info(higher_is_better="yes")
    with pytest.raises(ValueError, match="choose a non-empty subset of"):
        _info(modalities=("video",))
    with pytest.raises(ValueError, match="choose a non-empty subset of"):
        _info(modalities=())
    with pytest.raises(ValueError, match="needs a description"):
        _info(description="")
    with pytest.raises(ValueError, match="has kind 'quality'; choose one of"):
        _info(kind="quality")
