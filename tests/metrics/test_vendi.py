"""Vendi score: closed forms, the definition transcribed, the reference package."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genbench.metrics.vendi import (
    vendi_from_eigenvalues,
    vendi_from_similarity,
    vendi_score,
    vendi_scores,
)

ORDERS = (1.0, 0.5, 2.0, math.inf)


def _rbf(x: np.ndarray, sigma: float) -> np.ndarray:
    n = len(x)
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            k[i, j] = math.exp(-np.sum((x[i] - x[j]) ** 2) / (2 * sigma**2))
    return k


@pytest.mark.parametrize("q", ORDERS)
def test_identical_points_give_one(q):
    x = np.tile(np.array([[1.0, 2.0, -3.0]]), (40, 1))
    assert vendi_score(x, q) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("q", ORDERS)
def test_orthogonal_unit_vectors_give_n(q):
    x = np.eye(12)[:7] * np.arange(1, 8)[:, None]  # lengths do not matter for cosine
    assert vendi_score(x, q) == pytest.approx(7.0, rel=1e-12)
    assert vendi_score(np.eye(9), q, kernel="rbf", sigma=1e-3) == pytest.approx(9.0, rel=1e-12)


def test_k_clusters_of_identical_points_give_k():
    x = np.repeat(np.eye(4), [5, 5, 5, 5], axis=0)
    assert vendi_score(x) == pytest.approx(4.0, rel=1e-9)


@pytest.mark.parametrize(("n", "d"), [(30, 5), (6, 40)])
def test_definition_transcribed(n, d):
    """exp(-Σ λ log λ) over the eigenvalues of K/n, K the cosine similarity
    written entry by entry: equal whichever Gram side is decomposed. (When
    n > d, K has n - d eigenvalues that are exactly 0; the loop drops their
    round-off, below 1e-12.)"""
    x = np.random.default_rng(n).normal(size=(n, d))
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            k[i, j] = x[i] @ x[j] / (np.linalg.norm(x[i]) * np.linalg.norm(x[j]))
    lam = np.linalg.eigvalsh(k / n)
    lam = lam[lam > 1e-12]
    expected = {
        1.0: math.exp(-sum(v * math.log(v) for v in lam)),
        0.5: sum(math.sqrt(v) for v in lam) ** 2,
        2.0: 1 / sum(v * v for v in lam),
        math.inf: 1 / max(lam),
    }
    ours = vendi_scores(x, ORDERS)
    for q in ORDERS:
        assert ours[q] == pytest.approx(expected[q], rel=1e-9)


def test_matches_vendi_score_package():
    vendi = pytest.importorskip("vendi_score.vendi")
    from sklearn.preprocessing import normalize

    rng = np.random.default_rng(0)
    for n, d in [(200, 16), (50, 128), (300, 3)]:
        x = rng.normal(size=(n, d)) + 0.3
        unit = normalize(x, axis=1)
        ours = vendi_scores(x, ORDERS)
        for q in ORDERS:
            spelled = "inf" if math.isinf(q) else q
            # the package on the same (smaller) side we decompose: X^T X / n
            # when n >= d (its dual form), else K / n
            if n >= d:
                reference = vendi.score_dual(x, q=spelled)
            else:
                reference = vendi.score_K(unit @ unit.T, q=spelled)
            assert ours[q] == pytest.approx(reference, rel=1e-8, abs=0)
            if q != 0.5:  # the n x n K also agrees, except for the round-off of its
                # n - d zero eigenvalues, which moves q < 1 by ~1e-7
                assert ours[q] == pytest.approx(vendi.score_K(unit @ unit.T, q=spelled), rel=1e-8)
        sigma = 2.5
        kernel = _rbf(x[:60], sigma)
        assert vendi_score(x[:60], kernel="rbf", sigma=sigma) == pytest.approx(
            vendi.score_K(kernel), rel=1e-8
        )
        assert vendi_from_similarity(kernel) == pytest.approx(vendi.score_K(kernel), rel=1e-8)


@pytest.mark.parametrize("sigma", [0, 0.0, -1.0, float("nan"), float("inf")])
def test_rbf_bandwidth_refused_with_its_value(sigma):
    x = np.random.default_rng(1).normal(size=(5, 2))
    with pytest.raises(ValueError, match=rf"Vendi score: .*sigma={sigma!r}"):
        vendi_score(x, kernel="rbf", sigma=sigma)


def test_bad_inputs():
    x = np.random.default_rng(2).normal(size=(5, 3))
    with pytest.raises(ValueError, match="needs a bandwidth sigma"):
        vendi_score(x, kernel="rbf")
    with pytest.raises(ValueError, match="unknown kernel 'poly'"):
        vendi_score(x, kernel="poly")
    with pytest.raises(ValueError, match="feature row 2 is zero"):
        vendi_score(np.vstack([x[:2], np.zeros((1, 3))]))
    with pytest.raises(ValueError, match="q must be positive"):
        vendi_score(x, q=0)
    with pytest.raises(ValueError, match=r"Vendi score needs at least 1 samples \(n\), got n=0"):
        vendi_score(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"K_ii = 1 on the diagonal"):
        vendi_from_similarity(2 * np.eye(3))
    with pytest.raises(ValueError, match="no positive eigenvalue"):
        vendi_from_eigenvalues(np.zeros(3))
