"""The :class:`Task` contract shared by every modality.

A task owns its data (splits, loaded once per process), the data format at
the hook boundary, the validation of what plugins return, the per-example
dimension counts that turn nats into bits, and its feature extractor.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from genbench.hashing import content_hash, derive_seed
from genbench.metrics.uncertainty import Interval, bootstrap_indices, bootstrap_interval
from genbench.specs import MODALITIES, validate_name
from genbench.tasks.validation import (
    validate_tensor_samples,
    validate_text_samples,
)

if TYPE_CHECKING:
    from pathlib import Path

    from genbench.features.base import FeatureExtractor


@dataclass(frozen=True)
class TaskData:
    """A task's splits in its data format (see :mod:`genbench.hookspecs`).

    ``train`` is what models fit on (and, through
    :meth:`Task.training_samples`, what memorisation is measured against);
    ``test`` is the reference that samples are compared with and likelihoods
    are scored on; ``holdout`` is real data in neither, drawn from (through
    :meth:`Task.holdout_samples`) by the ``data`` baseline to show the
    metrics' noise floor (``None`` when a task has none). ``*_labels`` are
    integer class labels where the data has them (used to train the
    in-domain feature extractor, and by the ``data`` baseline to answer
    class-conditional calls), else ``None``.
    ``holdout_labels`` is not part of :meth:`Task.fingerprint` (the holdout
    examples are), so adding it left every cache key unchanged.
    """

    train: Any
    test: Any
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    holdout: Any = None
    holdout_labels: np.ndarray | None = None


class Task(ABC):
    """A dataset plus everything needed to evaluate samples on it.

    Subclasses set the class attributes and implement :meth:`_load` and
    :meth:`feature_extractor`.

    Attributes:
        name: ``"<modality>/<name>"``, e.g. ``"image/mnist"``.
        modality: one of :data:`MODALITIES`.
        description: one line for tables.
        levels: discrete levels per dimension (256 for 8-bit pixels), or
            ``None`` for continuous data (toy).
        example_shape: shape of one example, e.g. ``(1, 28, 28)`` or ``(2,)``;
            ``()`` for variable-length text.
        eval_samples: number of generated samples per budget; the real side
            is the whole test split (or that many of it, whichever is fewer).
        likelihood_examples: number of test examples scored by
            ``log_likelihood`` per budget.
        primary_metric: the registered metric the task's leaderboard ranks
            by (FID by default; mixtures of Gaussians rank by coverage, since
            a Fréchet distance sees only means and covariances).
        cache_dir: where the task caches data it builds (``None``: the
            default cache, see :func:`genbench.defaults.default_cache_dir`).
        frechet_metric: the name the Fréchet distance on this task's features
            is reported under: ``fid`` (images, and by convention other
            in-domain embeddings) or ``fad`` (Fréchet Audio Distance).
        num_classes: the number of classes ``K`` whose labels ``0..K-1``
            class-conditional sampling asks for and whose probabilities the
            feature extractor returns (in the same order), or ``None`` for a
            task without such labels (no guidance sweep). A class attribute,
            so answering needs no data.
    """

    name: ClassVar[str]
    modality: ClassVar[str]
    description: ClassVar[str] = ""
    levels: ClassVar[int | None] = None
    example_shape: ClassVar[tuple[int, ...]] = ()
    eval_samples: ClassVar[Mapping[str, int]] = {"smoke": 200, "default": 1000, "full": 5000}
    likelihood_examples: ClassVar[Mapping[str, int]] = {
        "smoke": 100,
        "default": 1000,
        "full": 10_000,
    }
    primary_metric: ClassVar[str] = "fid"
    frechet_metric: ClassVar[str] = "fid"
    num_classes: ClassVar[int | None] = None

    def __init__(self) -> None:
        modality, _, short = self.name.partition("/")
        if modality not in MODALITIES or not short:
            raise ValueError(
                f"task name {self.name!r} must look like '<modality>/<name>' with a modality "
                f"in {list(MODALITIES)}"
            )
        if modality != self.modality:
            raise ValueError(f"task {self.name!r} declares modality {self.modality!r}")
        validate_name(short, "task")
        self.cache_dir: Path | None = None
        self._data: TaskData | None = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    def use_cache_dir(self, cache_dir: Path) -> None:
        """Cache data this task builds (e.g. synthesised audio) under
        ``cache_dir`` unless a cache was given to the task itself. The
        harness passes its run's cache, so every worker shares one."""
        if self.cache_dir is None:
            self.cache_dir = cache_dir

    @property
    def discrete(self) -> bool:
        """True when likelihoods are probabilities of discrete data (pixels,
        mu-law codes, characters), so a log-likelihood cannot exceed 0."""
        return self.levels is not None or self.modality == "text"

    # -- data ---------------------------------------------------------------

    @abstractmethod
    def _load(self) -> TaskData:
        """Build the splits. Called once per process; never downloads."""

    def load(self) -> TaskData:
        """The task's splits, built on first use and kept for the process."""
        with self._lock:
            if self._data is None:
                self._data = self._load()
            return self._data

    def fingerprint(self) -> str:
        """SHA-256 of the task's name and split contents (hex).

        Keys every cache that depends on the data, so a changed dataset never
        reuses stale features, statistics or checkpoints.
        """
        if self._fingerprint is None:
            data = self.load()
            digest = hashlib.sha256(self.name.encode())
            parts = (data.train, data.test, data.train_labels, data.test_labels, data.holdout)
            for part in parts:
                digest.update(content_hash(part).encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    # -- evaluation -----------------------------------------------------------

    @abstractmethod
    def feature_extractor(self) -> FeatureExtractor:
        """The extractor whose features feed FID, KID, precision/recall, etc."""

    def guidance_labels(self, n: int) -> torch.Tensor:
        """The labels a guidance sweep asks for with ``n`` samples:
        ``torch.arange(n) % num_classes`` (``int64``, CPU), every class
        equally often up to one and the same every run.

        Raises:
            ValueError: the task has no classes, or ``n`` is negative.
        """
        if self.num_classes is None:
            raise ValueError(f"task {self.name!r} has no class labels (num_classes is None)")
        if n < 0:
            raise ValueError(f"the number of labels must be >= 0, got {n}")
        return torch.arange(n, dtype=torch.int64) % self.num_classes

    def reference(self, budget: str) -> Any:
        """Real examples that generated samples are compared against: the
        first ``eval_samples[budget]`` test examples (the split is already
        shuffled and stratified by :meth:`_load`)."""
        return _take(self.load().test, self.eval_samples[budget])

    def training_samples(self) -> Any:
        """The training split in the sample format (what :meth:`validate_samples`
        returns): what memorisation, authenticity and the data-copying test
        compare generated samples with, and what the ``memorizer`` baseline
        returns. The default is the train split itself; text tasks cut their
        training documents into sample-length snippets."""
        return self.load().train

    def holdout_samples(self) -> Any:
        """The holdout split in the sample format, what the ``data`` baseline
        returns (``None`` when the task has no holdout split). The default
        is the holdout split itself; text tasks cut their held-out
        documents into sample-length snippets."""
        return self.load().holdout

    def likelihood_batch(self, budget: str) -> Any:
        """Test examples scored by ``log_likelihood``, in the format that hook
        takes (audio tasks return mu-law codes, text tasks token ids)."""
        return _take(self.load().test, self.likelihood_examples[budget])

    def shifted_likelihood_batches(self, budget: str) -> dict[str, Any]:
        """Shifted data for the likelihood anomaly AUROC: shift name ->
        ``likelihood_examples[budget]`` examples in :meth:`likelihood_batch`'s
        format (shape, dtype and levels), built only from the task's own
        data and drawn deterministically (:meth:`shift_rng`). Example ``i``
        of a shift does not depend on the budget. Each name ``<shift>``
        needs a registered metric ``anomaly_auroc_<shift>``. The default:
        no shifted sets, so no anomaly metric."""
        return {}

    def shift_rng(self, shift: str) -> np.random.Generator:
        """The random generator of shifted set ``shift``, seeded from the
        task's fingerprint and the shift's name (the same draws every run)."""
        return np.random.default_rng(derive_seed(0, self.fingerprint(), "shift", shift))

    def reconstruction_batch(self, budget: str) -> Any:
        """Test examples passed to ``reconstruct``, in the sample format."""
        return _take(self.load().test, self.likelihood_examples[budget])

    def dimension_counts(self, x: Any) -> dict[str, np.ndarray]:
        """Per-example counts of each unit that log-likelihoods are normalised
        by, e.g. ``{"dim": [784, 784, ...]}`` for images; text tasks return
        ``char``/``byte``/``word`` counts. Units become metric names
        (``bits_per_dim``, ``bits_per_char``...)."""
        n = len(x)
        return {"dim": np.full(n, int(np.prod(self.example_shape)), dtype=np.int64)}

    def validate_samples(self, x: Any, n: int) -> Any:
        """Check ``x`` is ``n`` examples in this task's data format.

        Returns ``x`` (as a tensor where the format is a tensor). Raises
        :class:`SampleValidationError` with a message that says what was
        expected and what came back.
        """
        if self.modality == "text":
            return validate_text_samples(x, n)
        return validate_tensor_samples(self, x, n)

    def extra_metrics(self, samples: Any) -> dict[str, float]:
        """Task-specific metrics of validated samples (e.g. modes covered on a
        mixture of Gaussians). Names must be registered metrics."""
        return {}

    def extra_metric_intervals(self, samples: Any) -> dict[str, Interval]:
        """95 % intervals of :meth:`extra_metrics`, from a bootstrap over the
        samples (each resample recomputes every task metric). Tasks whose
        metrics are too costly to recompute hundreds of times override this."""
        if not len(samples):
            return {}
        indices = bootstrap_indices(len(samples))
        estimates = self.extra_metrics(samples)
        replicates: dict[str, list[float]] = {}
        for rows in indices:
            resample = (
                samples[torch.from_numpy(rows)]
                if torch.is_tensor(samples)
                else [samples[i] for i in rows]
            )
            for name, value in self.extra_metrics(resample).items():
                replicates.setdefault(name, []).append(value)
        method = f"bootstrap over the {len(samples)} generated samples ({len(indices)} resamples)"
        return {
            name: bootstrap_interval(estimates[name], np.asarray(values), method)
            for name, values in replicates.items()
        }

    def save_preview(self, samples: Any, path: Path) -> Path | None:
        """Write a small human-viewable preview of ``samples`` (PNG grid,
        scatter plot, WAV...) at ``path`` without suffix; return the file
        written, or ``None`` when the modality has no preview."""
        return None


def _take(x: Any, n: int) -> Any:
    return x[: min(n, len(x))]
