"""Tiny tasks whose whole domain can be listed, for the likelihood audit.

On these, the sum of ``exp(log_likelihood)`` over every possible example is
the model's total probability mass: exactly 1 for an exact model, at most 1
for a lower bound. The kit registers them (plugin ``genbench_kit``) only in
its own registry; ``genbench run`` never sees them.

* ``image/kit-2x2``: 1 x 2 x 2 images with 4 levels (4**4 = 256 images);
* ``audio/kit-mulaw8``: 8-sample clips, 4 mu-law levels (4**8 = 65,536);
  both carry two classes, so class-conditional models are checked too;
* ``toy/kit-blobs``: two 2-D Gaussian blobs; continuous, so the audit
  integrates the density on a grid instead of summing (tolerance 0.02).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from genbench import hookimpl
from genbench.features.identity import IdentityFeatures
from genbench.features.waveform import mulaw_decode, mulaw_encode
from genbench.tasks.base import Task, TaskData

KIT_SEED = 7
_SIZES = MappingProxyType({"smoke": 256, "default": 256, "full": 256})


def _label_splits(labels: np.ndarray, train: int, test: int) -> dict[str, np.ndarray]:
    """``labels`` cut like the kit's splits: the first ``train``, the next
    ``test``, the rest held out (so class-conditional models can be checked)."""
    return {
        "train_labels": labels[:train],
        "test_labels": labels[train : train + test],
        "holdout_labels": labels[train + test :],
    }


class EnumerableTask(Task):
    """A kit task: small splits, and :meth:`domain` lists every example."""

    eval_samples = _SIZES
    likelihood_examples = _SIZES
    train_size = 2048
    test_size = 256
    integration_step: float | None = None
    """Grid spacing of a continuous task's integration (``None``: discrete)."""

    def feature_extractor(self) -> IdentityFeatures:
        return IdentityFeatures(int(np.prod(self.example_shape)))

    def domain(self) -> tuple[Any, float]:
        """Every example in the format ``log_likelihood`` takes, and the
        volume each stands for (1 for discrete data, a grid cell's area for
        continuous data)."""
        raise NotImplementedError


class KitImageTask(EnumerableTask):
    """1 x 2 x 2 images, 4 levels, drawn from a fixed random distribution
    over the 256 possible images."""

    name = "image/kit-2x2"
    modality = "image"
    description = "conformance kit: 2x2 images with 4 levels (256 possible images)"
    levels = 4
    example_shape = (1, 2, 2)
    num_classes = 2
    """Class 1: the top-left pixel is in the upper half of the levels."""

    def _all(self) -> torch.Tensor:
        grid = list(itertools.product(range(self.levels), repeat=4))
        return torch.tensor(grid, dtype=torch.uint8).reshape(-1, *self.example_shape)

    def _load(self) -> TaskData:
        rng = np.random.default_rng(KIT_SEED)
        images = self._all()
        weights = rng.dirichlet(np.full(len(images), 0.3))
        draw = rng.choice(len(images), size=self.train_size + 2 * self.test_size, p=weights)
        x = images[torch.from_numpy(draw)]
        labels = (x[:, 0, 0, 0] >= self.levels // 2).numpy().astype(np.int64)
        n, m = self.train_size, self.test_size
        return TaskData(
            train=x[:n],
            test=x[n : n + m],
            holdout=x[n + m :],
            **_label_splits(labels, n, m),
        )

    def domain(self) -> tuple[torch.Tensor, float]:
        return self._all(), 1.0


class KitAudioTask(EnumerableTask):
    """8-sample clips at 8 kHz with 4 mu-law levels: a Markov chain over
    the levels, decoded to waveforms in [-1, 1]. ``log_likelihood`` gets the
    mu-law codes (``torch.int64`` N x 8)."""

    name = "audio/kit-mulaw8"
    modality = "audio"
    description = "conformance kit: 8-sample clips, 4 mu-law levels (65,536 possible clips)"
    levels = 4
    example_shape = (8,)
    sample_rate = 8000
    num_classes = 2
    """Class 1: the first code is in the upper half of the levels."""

    def _load(self) -> TaskData:
        rng = np.random.default_rng(KIT_SEED)
        transition = rng.dirichlet(np.full(self.levels, 0.5), size=self.levels)
        n = self.train_size + 2 * self.test_size
        codes = np.zeros((n, self.example_shape[0]), dtype=np.int64)
        codes[:, 0] = rng.integers(self.levels, size=n)
        for t in range(1, self.example_shape[0]):
            u = rng.random(n)[:, None]
            codes[:, t] = (u > np.cumsum(transition[codes[:, t - 1]], axis=1)).sum(axis=1)
        codes = np.minimum(codes, self.levels - 1)
        waves = mulaw_decode(torch.from_numpy(codes), self.levels).float()
        labels = (codes[:, 0] >= self.levels // 2).astype(np.int64)
        k, m = self.train_size, self.test_size
        return TaskData(
            train=waves[:k],
            test=waves[k : k + m],
            holdout=waves[k + m :],
            **_label_splits(labels, k, m),
        )

    def encode_mulaw(self, waveforms: torch.Tensor) -> torch.Tensor:
        return mulaw_encode(waveforms, self.levels)

    def decode_mulaw(self, codes: torch.Tensor) -> torch.Tensor:
        return mulaw_decode(codes, self.levels)

    def likelihood_batch(self, budget: str) -> torch.Tensor:
        return self.encode_mulaw(super().likelihood_batch(budget))

    def domain(self) -> tuple[torch.Tensor, float]:
        grid = itertools.product(range(self.levels), repeat=self.example_shape[0])
        return torch.tensor(list(grid), dtype=torch.int64), 1.0


class KitToyTask(EnumerableTask):
    """Two Gaussian blobs (sigma 0.3) at (-1, 0) and (1, 0); the audit
    integrates the model's density on a grid over [-4, 4]^2."""

    name = "toy/kit-blobs"
    modality = "toy"
    description = "conformance kit: two 2-D Gaussian blobs (continuous; grid integration)"
    levels = None
    example_shape = (2,)
    integration_step = 0.04
    box = 4.0

    def _load(self) -> TaskData:
        rng = np.random.default_rng(KIT_SEED)
        n = self.train_size + 2 * self.test_size
        centres = np.array([[-1.0, 0.0], [1.0, 0.0]])[rng.integers(2, size=n)]
        x = torch.from_numpy((centres + 0.3 * rng.standard_normal((n, 2))).astype(np.float32))
        k, m = self.train_size, self.test_size
        return TaskData(train=x[:k], test=x[k : k + m], holdout=x[k + m :])

    def domain(self) -> tuple[torch.Tensor, float]:
        step = self.integration_step
        ticks = torch.arange(-self.box + step / 2, self.box, step, dtype=torch.float32)
        xx, yy = torch.meshgrid(ticks, ticks, indexing="ij")
        return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), step * step


KIT_TASKS: tuple[type[EnumerableTask], ...] = (KitImageTask, KitAudioTask, KitToyTask)


@hookimpl
def register_tasks(register: Callable[[Task], None]) -> None:
    """The kit's enumerable tasks (registered only in the kit's registry)."""
    for task_class in KIT_TASKS:
        register(task_class())
