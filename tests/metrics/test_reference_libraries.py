"""Hand-written metrics against their reference libraries on the same inputs.

Each test skips (with the reason) when its package is not installed; all of
them are in the ``test`` extra. The Vendi score's check is in
``test_vendi.py``, the mel filterbank's (librosa) in
``tests/features/test_melspec.py``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from genbench.metrics.mauve import mauve, mauve_from_histograms
from genbench.metrics.neighbours import RealNeighbourhood, neighbour_metrics
from genbench.metrics.text import self_bleu


@pytest.mark.parametrize(
    ("n", "m", "d", "seed"), [(500, 400, 16, 0), (1000, 1000, 64, 1), (300, 600, 8, 2)]
)
def test_neighbour_metrics_equal_prdc(n, m, d, seed):
    """Same float32 features; prdc's radii are the (k+1)-th smallest entry of
    each row with the point itself counted, as ours. prdc uses strict ``<``
    for all four numbers, genbench ``<=`` for precision/recall: on
    continuous data no distance equals a radius, so the counts are equal."""
    prdc = pytest.importorskip("prdc", reason="prdc not installed (test extra)")
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, d)).astype(np.float32)
    fake = (1.1 * rng.normal(size=(m, d)) + 0.1).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample counts
        reference_dc = prdc.compute_prdc(real, fake, nearest_k=5)
        reference_pr = prdc.compute_prdc(real, fake, nearest_k=3)
    ours = neighbour_metrics(RealNeighbourhood.from_features(real), fake)
    assert round(ours["coverage"] * n) == round(float(reference_dc["coverage"]) * n)
    assert round(ours["density"] * 5 * m) == round(float(reference_dc["density"]) * 5 * m)
    assert ours["density"] == pytest.approx(float(reference_dc["density"]), rel=1e-12)
    assert round(ours["precision"] * m) == round(float(reference_pr["precision"]) * m)
    assert round(ours["recall"] * n) == round(float(reference_pr["recall"]) * n)


def test_self_bleu_equals_nltk_sentence_bleu():
    """Self-BLEU is the mean over samples of NLTK's sentence BLEU of each
    sample (hypothesis) against all the others (references), uniform
    1-4-gram weights, ``SmoothingFunction().method1``."""
    bleu = pytest.importorskip("nltk.translate.bleu_score", reason="nltk not installed")
    smoothing = bleu.SmoothingFunction().method1
    rng = np.random.default_rng(0)
    vocabulary = ["the", "a", "cat", "dog", "sat", "on", "mat", "rug", "today", "and", "ran"]
    for count in (2, 5, 40):
        samples = [
            " ".join(rng.choice(vocabulary, size=int(rng.integers(1, 14)))) for _ in range(count)
        ]
        words = [s.split() for s in samples]
        reference = np.mean(
            [
                bleu.sentence_bleu(
                    words[:i] + words[i + 1 :], words[i], smoothing_function=smoothing
                )
                for i in range(count)
            ]
        )
        assert self_bleu(samples) == pytest.approx(reference, rel=1e-12, abs=1e-15)


def _mauve_package():
    pytest.importorskip("faiss", reason="faiss-cpu not installed (mauve-text needs it)")
    import faiss

    faiss.omp_set_num_threads(1)
    return pytest.importorskip("mauve.compute_mauve", reason="mauve-text not installed")


def test_mauve_frontier_area_equals_mauve_text_on_histograms():
    package = _mauve_package()
    from sklearn.metrics import auc

    rng = np.random.default_rng(1)
    for _ in range(5):
        p, q = rng.dirichlet(np.ones(8)), rng.dirichlet(0.5 * np.ones(8))
        curve = package.get_divergence_curve_for_multinomials(
            p, q, np.linspace(1e-6, 1 - 1e-6, 25), 5
        )
        x, y = curve.T
        by_x, by_y = np.argsort(x), np.argsort(y)
        reference = 0.5 * (auc(x[by_x], y[by_x]) + auc(y[by_y], x[by_y]))
        assert mauve_from_histograms(p, q) == pytest.approx(reference, rel=1e-12)


def test_mauve_on_features_equals_mauve_text_when_clusters_are_unambiguous():
    """Five tight blobs on the unit sphere (mauve-text L2-normalises first;
    genbench does not, so unit-length features make the inputs equal) and
    five clusters: both k-means implementations find the blobs, so the
    histograms and MAUVE agree; on ambiguous data they differ by k-means
    (scikit-learn vs faiss), not by the formula."""
    package = _mauve_package()
    rng = np.random.default_rng(2)
    centres = np.eye(16)[:5]

    def draw(weights, count):
        labels = rng.choice(5, size=count, p=weights)
        x = centres[labels] + 0.01 * rng.normal(size=(count, 16))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    real, generated = draw([0.2] * 5, 300), draw([0.4, 0.3, 0.1, 0.1, 0.1], 200)
    reference = package.compute_mauve(
        p_features=real, q_features=generated, num_buckets=5, verbose=False
    )
    ours = mauve(real, generated, seeds=(0,), clusters=5)
    assert ours.mean == pytest.approx(reference.mauve, rel=1e-12)
