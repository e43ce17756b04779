"""2-D mixtures of Gaussians with a known density: the classic mode-collapse
testbeds (8 modes on a ring, 25 on a grid).

Every mode has the same weight ``1/K`` and isotropic standard deviation
``sigma``. Because the density is known exactly, a task reports, besides
the feature metrics on raw coordinates:

* ``modes_reached`` (coverage alone): number of modes that are the nearest
  mode of at least ``max(1, COVERAGE_FRACTION * N / K)`` samples, i.e. of
  at least 10% of the ``N / K`` samples a perfect generator gives each
  mode, however far from the mode those samples lie;
* ``high_quality_fraction`` (precision alone): fraction of samples within
  :data:`HIGH_QUALITY_SIGMAS` ``* sigma`` (Euclidean distance) of their
  nearest mode. For a perfect generator in 2-D the distance over ``sigma``
  is Rayleigh distributed, so the expected fraction is
  ``1 - exp(-3**2 / 2) = 0.98889`` (not the 1-D "3-sigma" 0.9973);
* ``modes_covered`` (both at once): number of modes that receive at least
  the same threshold of *high-quality* samples; never more than
  ``modes_reached``;
* ``true_log_density``: mean log-density (nats) of the samples under the
  true mixture.
"""

from __future__ import annotations

import itertools
import math
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import logsumexp

from genbench.features.identity import IdentityFeatures
from genbench.tasks.base import Task, TaskData
from genbench.tasks.preview import save_scatter

HIGH_QUALITY_SIGMAS = 3.0
COVERAGE_FRACTION = 0.1
DATA_SEED = 2_024
"""Root seed of every toy task's draws; each task mixes in the CRC-32 of its
name, so tasks draw independent data."""


class GaussianMixtureTask(Task):
    """An equal-weight mixture of isotropic 2-D Gaussians.

    Subclasses set ``name``, ``description``, :attr:`modes` (``K x 2``) and
    :attr:`sigma`. Train, test and holdout splits are independent seeded
    draws of :attr:`train_size`, :attr:`test_size` and :attr:`test_size`
    points (``torch.float32`` ``N x 2``); labels are the index of the mode
    each point was drawn from. Leaderboards rank by k-NN ``coverage``: a
    Fréchet distance sees only the mixture's mean and covariance, which a
    model can match while dropping modes.
    """

    modality = "toy"
    levels = None
    example_shape = (2,)
    primary_metric = "coverage"
    eval_samples = MappingProxyType({"smoke": 500, "default": 2000, "full": 2000})
    likelihood_examples = MappingProxyType({"smoke": 500, "default": 2000, "full": 2000})
    modes: ClassVar[np.ndarray]
    sigma: ClassVar[float]
    train_size: ClassVar[int] = 20_000
    test_size: ClassVar[int] = 2_000

    def _load(self) -> TaskData:
        train_seed, test_seed, holdout_seed = np.random.SeedSequence(
            [DATA_SEED, zlib.crc32(self.name.encode())]
        ).spawn(3)
        train, train_labels = self.draw(self.train_size, np.random.default_rng(train_seed))
        test, test_labels = self.draw(self.test_size, np.random.default_rng(test_seed))
        holdout, _ = self.draw(self.test_size, np.random.default_rng(holdout_seed))
        return TaskData(train, test, train_labels, test_labels, holdout=holdout)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        """``n`` points from the mixture (``float32`` ``n x 2``) and the
        ``int64`` index of the mode each came from."""
        labels = rng.integers(len(self.modes), size=n)
        points = self.modes[labels] + self.sigma * rng.standard_normal((n, 2))
        return torch.from_numpy(points.astype(np.float32)), labels.astype(np.int64)

    def log_density(self, x: Any) -> np.ndarray:
        """Exact log-density (nats) of the mixture at each row of ``x``
        (``N x 2``), as ``float64 (N,)``."""
        points = _as_points(x)
        squared = _squared_distances(points, self.modes)
        log_normal = -squared / (2 * self.sigma**2) - math.log(2 * math.pi * self.sigma**2)
        return logsumexp(log_normal, axis=1) - math.log(len(self.modes))

    def shifted_likelihood_batches(self, budget: str) -> dict[str, torch.Tensor]:
        """``uniform``: as many points as :meth:`likelihood_batch`, uniform
        on the bounding box of the test split (``float32`` ``N x 2``): the
        data's range without its modes, so a density that has found the
        modes tells them apart."""
        count = len(self.likelihood_batch(budget))
        test = self.load().test.numpy()
        low, high = test.min(axis=0), test.max(axis=0)
        points = self.shift_rng("uniform").uniform(low, high, size=(count, 2))
        return {"uniform": torch.from_numpy(points.astype(np.float32))}

    def extra_metrics(self, samples: Any) -> dict[str, float]:
        """``modes_reached``, ``modes_covered``, ``high_quality_fraction``
        and ``true_log_density`` of ``samples`` (``N x 2``; see the module
        docstring).

        Raises:
            ValueError: ``samples`` is empty or not ``N x 2``.
        """
        points = _as_points(samples)
        if len(points) == 0:
            raise ValueError("mixture metrics need at least one sample")
        squared = _squared_distances(points, self.modes)
        nearest = squared.argmin(axis=1)
        distance = np.sqrt(squared[np.arange(len(points)), nearest])
        high_quality = distance <= HIGH_QUALITY_SIGMAS * self.sigma
        reached = np.bincount(nearest, minlength=len(self.modes))
        covered = np.bincount(nearest[high_quality], minlength=len(self.modes))
        threshold = max(1.0, COVERAGE_FRACTION * len(points) / len(self.modes))
        return {
            "modes_reached": float((reached >= threshold).sum()),
            "modes_covered": float((covered >= threshold).sum()),
            "high_quality_fraction": float(high_quality.mean()),
            "true_log_density": float(self.log_density(points).mean()),
        }

    def feature_extractor(self) -> IdentityFeatures:
        """Raw coordinates (``identity-2d``)."""
        return IdentityFeatures(2)

    def save_preview(self, samples: Any, path: Path) -> Path:
        """Scatter plot of ``samples`` over the true modes at ``<path>.png``."""
        return save_scatter(samples, self.modes, path, title=self.name)


def _as_points(x: Any) -> np.ndarray:
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"expected an N x 2 array of points, got shape {array.shape}")
    return array.astype(np.float64)


def ring_modes(count: int, radius: float) -> np.ndarray:
    """``count`` points evenly spaced on a circle, the first at angle 0
    (read-only ``count x 2``)."""
    angles = 2 * np.pi * np.arange(count) / count
    return _read_only(radius * np.column_stack([np.cos(angles), np.sin(angles)]))


def grid_modes(values: tuple[float, ...]) -> np.ndarray:
    """The square grid ``values x values`` (read-only ``len(values)**2 x 2``)."""
    return _read_only(np.array(list(itertools.product(values, repeat=2)), dtype=np.float64))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _squared_distances(points: np.ndarray, modes: np.ndarray) -> np.ndarray:
    return ((points[:, None, :] - modes[None, :, :]) ** 2).sum(axis=2)


class Ring8Task(GaussianMixtureTask):
    """8 modes evenly spaced on a circle of radius 2, sigma 0.02."""

    name = "toy/ring8"
    description = "8 Gaussians on a circle of radius 2, sigma 0.02"
    modes = ring_modes(count=8, radius=2.0)
    sigma = 0.02


class Grid25Task(GaussianMixtureTask):
    """25 modes on the grid {-4, -2, 0, 2, 4}^2, sigma 0.05."""

    name = "toy/grid25"
    description = "25 Gaussians on a 5x5 grid with spacing 2, sigma 0.05"
    modes = grid_modes((-4.0, -2.0, 0.0, 2.0, 4.0))
    sigma = 0.05
