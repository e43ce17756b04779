"""The sample-metric engine: agreement with the standalone metrics, metadata,
the reference cache format, and errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from genbench.metrics import (
    METRICS,
    RealNeighbourhood,
    Reference,
    classifier_inception_score,
    frechet_distance,
    frechet_statistics,
    kernel_inception_distance,
    memorisation,
    neighbour_metrics,
    prepare_reference,
    sample_metrics,
)
from genbench.metrics.engine import REFERENCE_FORMAT_VERSION
from genbench.metrics.kid import draw_subsets, share_generated_blocks

KID = {"kid_subsets": 10, "kid_subset_size": 100}


def _gaussian(seed: int, n: int, d: int, *, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, d)) + shift).astype(np.float32)


def _probs(seed: int, n: int, classes: int) -> np.ndarray:
    logits = np.random.default_rng(seed).standard_normal((n, classes))
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    return {
        "real": _gaussian(0, 300, 24),
        "train": _gaussian(1, 400, 24),
        "generated": _gaussian(2, 250, 24, shift=0.2),
        "probs": _probs(3, 250, 10),
    }


@pytest.fixture(scope="module")
def reference(data):
    return prepare_reference(data["real"], data["train"])


def test_every_emitted_name_is_registered(data, reference):
    result = sample_metrics(reference, data["generated"], generated_probs=data["probs"], **KID)
    assert set(result) == {
        "fid", "fid_inf", "kid_mean", "kid_std", "kid_subset_size", "precision", "recall",
        "density",
        "coverage", "memorisation_fraction", "memorisation_median_ratio",
        "inception_score_mean", "inception_score_std", "vendi", "alpha_precision",
        "beta_recall", "authenticity", "copying_ct", "copying_p", "mmd_rbf",
    }  # fmt: skip
    assert set(result) <= set(METRICS)
    assert all(isinstance(v, float) and np.isfinite(v) for v in result.values())


def test_default_kid_subset_size_is_reported_and_gives_a_spread(data, reference):
    result = sample_metrics(reference, data["generated"], kid_subsets=20)
    assert result["kid_subset_size"] == 125.0  # min(1000, min(250, 300) // 2)
    kid = kernel_inception_distance(data["generated"], data["real"], subsets=20)
    assert kid.subset_size == 125
    assert result["kid_mean"] == pytest.approx(kid.mean, abs=1e-8)
    assert result["kid_std"] == pytest.approx(kid.std, abs=1e-8)
    assert result["kid_std"] > 0


def test_too_few_samples_name_the_metric_the_count_and_the_minimum(data, reference):
    generated = data["generated"]
    with pytest.raises(
        ValueError, match=r"Fréchet distance needs at least 2 samples \(n\), got n=1"
    ):
        sample_metrics(reference, generated[:1])
    with pytest.raises(ValueError, match=r"KID needs at least 4 generated samples \(M\), got M=3"):
        sample_metrics(reference, generated[:3])
    with pytest.raises(
        ValueError,
        match=r"KID with subset_size=1000 needs at least 1000 generated samples \(M\), got M=250",
    ):
        sample_metrics(reference, generated, kid_subset_size=1000)
    with pytest.raises(
        ValueError,
        match=r"precision/recall \(k=3\) needs at least 4 generated samples \(M\), got M=3",
    ):
        sample_metrics(reference, generated[:3], kid_subset_size=2)
    with pytest.raises(
        ValueError,
        match=r"density/coverage \(k=5\) needs at least 6 real samples \(N\), got N=5",
    ):
        prepare_reference(data["real"][:5])


def test_optional_metrics_only_when_their_inputs_are_given(data):
    result = sample_metrics(prepare_reference(data["real"]), data["generated"], **KID)
    assert not any(name.startswith(("memorisation", "inception")) for name in result)


def test_agrees_with_the_standalone_functions(data, reference):
    real, train, generated = data["real"], data["train"], data["generated"]
    result = sample_metrics(reference, generated, generated_probs=data["probs"], **KID)
    assert result["fid"] == pytest.approx(
        frechet_distance(frechet_statistics(real), frechet_statistics(generated)), rel=1e-12
    )
    kid = kernel_inception_distance(generated, real, subsets=10, subset_size=100)
    # Equal up to float32 rounding of inner products computed in other blocks.
    assert result["kid_mean"] == pytest.approx(kid.mean, abs=1e-8)
    assert result["kid_std"] == pytest.approx(kid.std, abs=1e-8)
    assert result["kid_subset_size"] == 100.0
    neighbours = neighbour_metrics(RealNeighbourhood.from_features(real), generated)
    assert {k: result[k] for k in neighbours} == neighbours
    assert {k: result[k] for k in ("memorisation_fraction", "memorisation_median_ratio")} == (
        memorisation(train, generated)
    )
    mean, std = classifier_inception_score(data["probs"])
    assert (result["inception_score_mean"], result["inception_score_std"]) == (mean, std)


@pytest.mark.parametrize(
    ("dim", "subsets", "size", "shared"), [(24, 10, 100, True), (2, 40, 60, False)]
)
def test_both_kid_routes_agree_with_standalone_kid(dim, subsets, size, shared):
    real, generated = _gaussian(5, 200, dim), _gaussian(6, 180, dim, shift=0.3)
    draws = draw_subsets(180, 200, subsets=subsets, subset_size=size, seed=2020)
    assert share_generated_blocks(draws, dim) is shared
    result = sample_metrics(
        prepare_reference(real), generated, kid_subsets=subsets, kid_subset_size=size
    )
    kid = kernel_inception_distance(generated, real, subsets=subsets, subset_size=size)
    assert result["kid_mean"] == pytest.approx(kid.mean, abs=1e-8)
    assert result["kid_std"] == pytest.approx(kid.std, abs=1e-8)


def test_a_copying_generator_is_flagged_despite_a_good_fid(data, reference):
    fresh = sample_metrics(reference, _gaussian(4, 300, 24), **KID)
    copies = sample_metrics(reference, data["train"][:300].copy(), **KID)
    assert copies["memorisation_fraction"] == 1.0
    assert fresh["memorisation_fraction"] < 0.05
    assert copies["fid"] < 2 * fresh["fid"]


def test_independent_of_block_size_and_repeatable(data, reference):
    baseline = sample_metrics(reference, data["generated"], **KID)
    again = sample_metrics(reference, data["generated"], **KID)
    blocked = sample_metrics(reference, data["generated"], block_size=17, **KID)
    assert again == baseline
    for name, value in baseline.items():
        # KID and the RBF MMD differ by float32 rounding of inner products in
        # other blocks: KID's sums by about 1e-9, the MMD's (a difference of
        # nearly equal kernel means) by about 1e-8 of its value here.
        tolerance = 1e-5 if name == "mmd_rbf" else 1e-9
        assert blocked[name] == pytest.approx(value, rel=tolerance, abs=1e-8), name


def test_arrays_round_trip_through_npz(data, reference, tmp_path):
    arrays = reference.to_arrays()
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    np.savez(tmp_path / "reference.npz", **arrays)
    with np.load(tmp_path / "reference.npz", allow_pickle=False) as stored:
        restored = Reference.from_arrays(dict(stored))
    assert sample_metrics(restored, data["generated"], **KID) == sample_metrics(
        reference, data["generated"], **KID
    )


def test_arrays_hold_the_r_factor_and_exact_squared_radii(data, reference):
    arrays = reference.to_arrays()
    np.testing.assert_array_equal(arrays["frechet_root"], reference.frechet.root)
    np.testing.assert_array_equal(np.tril(arrays["frechet_root"], -1), 0)
    real = data["real"].astype(np.float64)
    squared = ((real[:, None, :] - real[None, :, :]) ** 2).sum(-1)
    for k in (3, 5):
        np.testing.assert_allclose(
            arrays[f"real_squared_radius_k{k}"], np.sort(squared, axis=1)[:, k], rtol=1e-14
        )


def test_reference_pickles_for_process_workers(data, reference):
    restored = pickle.loads(pickle.dumps(reference))
    assert sample_metrics(restored, data["generated"], **KID) == sample_metrics(
        reference, data["generated"], **KID
    )


def test_reference_without_training_round_trips(data):
    reference = prepare_reference(data["real"])
    restored = Reference.from_arrays(reference.to_arrays())
    assert restored.training is None
    np.testing.assert_array_equal(restored.real_features, reference.real_features)


def test_errors(data, reference):
    with pytest.raises(ValueError, match="different feature dimensions: 23 vs 24"):
        sample_metrics(reference, data["generated"][:, :23])
    with pytest.raises(ValueError, match="generated_probs has 10 rows for 250 generated samples"):
        sample_metrics(reference, data["generated"], generated_probs=data["probs"][:10])
    with pytest.raises(ValueError, match="generated features contains NaN"):
        sample_metrics(reference, np.full((10, 24), np.nan))
    with pytest.raises(ValueError, match="different feature dimensions: 23 vs 24"):
        prepare_reference(data["real"], data["train"][:, :23])
    arrays = reference.to_arrays()
    with pytest.raises(ValueError, match=f"format version 0, expected {REFERENCE_FORMAT_VERSION}"):
        Reference.from_arrays({**arrays, "format_version": np.asarray(0)})
    with pytest.raises(ValueError, match=r"reference arrays lack \['frechet_root'\]"):
        Reference.from_arrays({k: v for k, v in arrays.items() if k != "frechet_root"})
    with pytest.raises(ValueError, match="do not match the real features"):
        Reference.from_arrays({**arrays, "frechet_n": np.asarray(7)})
