"""FID on genbench's own MNIST features (a ReLU layer with 28 dead units)
equals a float64 ``scipy.linalg.sqrtm`` computation: the README's claim."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from genbench.metrics import frechet_distance, frechet_statistics
from genbench.tasks.image import MnistTask


def _sqrtm_fid(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


@pytest.mark.slow
def test_fid_on_the_mnist_extractor_features_matches_float64_sqrtm():
    task = MnistTask()
    data, extractor = task.load(), task.feature_extractor()
    real = extractor.extract(data.test[:1000])[0]
    held_out = extractor.extract(data.holdout[:1000])[0]
    assert int((real.max(axis=0) == 0).sum()) == 28  # the dead units that trip eigenvalue routes
    ours = frechet_distance(frechet_statistics(real), frechet_statistics(held_out))
    assert ours == pytest.approx(_sqrtm_fid(real, held_out), rel=1e-9)
