"""Time a cold against a warm evaluation of one model's samples on image/mnist.

The evaluation is the harness's: features of the real reference and of the
training split (through :class:`~genbench.features.cache.FeatureCache`),
the prepared reference (through ``FeatureCache.arrays``), then the
generated samples' features and class probabilities (one
``extractor.extract`` pass) and :func:`~genbench.metrics.engine.sample_metrics`.

* cold: an empty cache, so everything is computed and written;
* warm: the same cache again (a new cache object), so only the generated
  side is computed.

The samples come from an independent-pixels model fitted on the training
split (each pixel drawn from its own empirical histogram, seeded), a
stand-in for any model. Prints each stage's time, the cold/warm ratio
(target: at least 5x) and checks that both give identical metrics. Usage::

    python benchmarks/bench_feature_cache.py --budget default --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from genbench.features.cache import FeatureCache
from genbench.features.classifier import ClassifierFeatures
from genbench.metrics.engine import Reference, prepare_reference, sample_metrics
from genbench.tasks.image import MnistTask


def independent_pixel_samples(train: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` images whose pixels are drawn independently, each from its
    empirical distribution over the training images."""
    flat = train.reshape(len(train), -1).numpy()
    rng = np.random.default_rng(seed)
    rows = rng.integers(len(flat), size=(n, flat.shape[1]))
    samples = flat[rows, np.arange(flat.shape[1])]
    return torch.from_numpy(samples.reshape(n, *train.shape[1:]))


class Stopwatch:
    """Wall-clock and CPU seconds per named stage (CPU time is less
    disturbed by other processes on a shared machine)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    def __call__(self, stage: str, work: Callable[[], Any]) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = work()
        self.seconds[stage] = time.perf_counter() - start
        self.cpu_seconds[stage] = time.process_time() - start_cpu
        return result

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_seconds.values())


def evaluate(
    cache: FeatureCache, task: MnistTask, budget: str, samples: torch.Tensor
) -> tuple[dict[str, float], Stopwatch]:
    """One model's sample metrics, computed as the harness does, with a
    fresh extractor."""
    extractor = ClassifierFeatures(task.classifier_key)
    watch = Stopwatch()
    real = task.reference(budget)
    train = task.load().train
    real_features = watch("real features", lambda: cache.features(extractor, real))
    train_features = watch("train features", lambda: cache.features(extractor, train))
    key = ["reference", "bench", task.fingerprint(), extractor.name, extractor.weights_sha256()]
    arrays = watch(
        "reference",
        lambda: cache.arrays(
            [*key, str(len(real))],
            lambda: prepare_reference(real_features, train_features).to_arrays(),
        ),
    )
    reference = Reference.from_arrays(arrays)
    generated, probabilities = watch("generated extract", lambda: extractor.extract(samples))
    metrics = watch(
        "sample metrics",
        lambda: sample_metrics(reference, generated, generated_probs=probabilities),
    )
    return metrics, watch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="default", choices=["smoke", "default", "full"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    task = MnistTask()
    samples = independent_pixel_samples(task.load().train, task.eval_samples[args.budget], seed=0)
    print(
        f"image/mnist, budget {args.budget}: {len(task.reference(args.budget))} real, "
        f"{len(task.load().train)} train, {len(samples)} generated; "
        f"{args.threads} thread(s), best of {args.repeats}"
    )
    cold_runs, warm_runs = [], []
    with threadpool_limits(args.threads):
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as root:
                cold_metrics, cold = evaluate(FeatureCache(Path(root)), task, args.budget, samples)
                warm_metrics, warm = evaluate(FeatureCache(Path(root)), task, args.budget, samples)
            if warm_metrics != cold_metrics:
                raise SystemExit(f"cached metrics differ: {cold_metrics} vs {warm_metrics}")
            cold_runs.append(cold)
            warm_runs.append(warm)
    cold = min(cold_runs, key=lambda w: w.total)
    warm = min(warm_runs, key=lambda w: w.total)
    print(f"{'stage':<20} {'cold s':>8} {'warm s':>8} {'cold cpu':>9} {'warm cpu':>9}")
    for stage in cold.seconds:
        print(
            f"{stage:<20} {cold.seconds[stage]:>8.3f} {warm.seconds[stage]:>8.3f} "
            f"{cold.cpu_seconds[stage]:>9.3f} {warm.cpu_seconds[stage]:>9.3f}"
        )
    print(
        f"{'total':<20} {cold.total:>8.3f} {warm.total:>8.3f} "
        f"{cold.cpu_total:>9.3f} {warm.cpu_total:>9.3f}"
    )
    print(
        f"cold/warm ratio: {cold.total / warm.total:.1f}x wall, "
        f"{cold.cpu_total / warm.cpu_total:.1f}x CPU (target >= 5x)"
    )
    print(f"fid {cold_metrics['fid']:.3f}, identical metrics cold and warm")


if __name__ == "__main__":
    main()
