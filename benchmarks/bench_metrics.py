"""Time genbench's sample metrics against torch-fidelity on the same features.

For each feature dimension, draws real and generated features (a ReLU of a
random linear map of a low-dimensional Gaussian, plus noise, so that
precision/recall/density/coverage are neither 0 nor 1), then times:

* genbench: FID, KID, precision/recall + density/coverage (one call), each
  standalone; the classic suite without a prepared reference
  (``prepare_reference`` + ``sample_metrics(newer=False)``: torch-fidelity's
  set of metrics, so FD∞ left out and timed on its own), and again with the
  bootstrap intervals (``score_samples``); the whole suite as every run
  computes it, the newer metrics (Vendi, α-precision, β-recall, RBF MMD,
  realism, rarity) and their intervals included (authenticity and C_T need
  training features, which this benchmark has none of); and the classic
  suite with a prepared reference, for the first model and for a further
  model with the same sample count (whose real-real KID sums are reused);
* torch-fidelity: ``fid_features_to_statistics`` + ``fid_statistics_to_metric``,
  ``kid_features_to_metric``, ``prc_features_to_metric``, plus density and
  coverage computed the straightforward way from full float32 distance
  matrices (as the ``prdc`` package does).

Prints the best time over ``--repeats`` runs of each item, the speed ratios and
the largest value differences. Usage::

    python benchmarks/bench_metrics.py --n 4000 --dims 2048 128 --repeats 1
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg.blas
import torch
from threadpoolctl import threadpool_limits
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from genbench.metrics import (
    RealNeighbourhood,
    frechet_distance,
    frechet_statistics,
    kernel_inception_distance,
    neighbour_metrics,
    prepare_reference,
    sample_metrics,
)
from genbench.metrics.engine import score_samples
from genbench.metrics.frechet_infinity import frechet_distance_infinity
from genbench.metrics.uncertainty import BOOTSTRAP_RESAMPLES


def synthetic_features(seed: int, n: int, dim: int, *, shift: float, scale: float) -> np.ndarray:
    """ReLU features of a 32-dimensional Gaussian through a fixed random map."""
    latent_dim = 32
    mapping = np.random.default_rng(0).standard_normal((latent_dim, dim)) / np.sqrt(latent_dim)
    rng = np.random.default_rng(seed)
    latent = scale * rng.standard_normal((n, latent_dim)) + shift
    noise = 0.1 * rng.standard_normal((n, dim))
    return np.maximum(latent @ mapping + noise, 0.0).astype(np.float32)


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Smallest wall-clock time over ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def inner_product_blocks(real: np.ndarray, generated: np.ndarray) -> None:
    """The real-real, generated-generated (one triangle each, BLAS ``syrk``)
    and generated-real inner products in float32: what exact k-NN radii and
    ball counts on both sides cannot do without."""
    scipy.linalg.blas.ssyrk(1.0, real)
    scipy.linalg.blas.ssyrk(1.0, generated)
    np.dot(generated, real.T)


def torch_fidelity_fid(generated: torch.Tensor, real: torch.Tensor) -> float:
    stats_generated = fid_features_to_statistics(generated)
    stats_real = fid_features_to_statistics(real)
    metric = fid_statistics_to_metric(stats_generated, stats_real, verbose=False)
    return metric["frechet_inception_distance"]


def torch_fidelity_kid(generated: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    out = kid_features_to_metric(generated, real, verbose=False)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


def torch_fidelity_prc(generated: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    out = prc_features_to_metric(generated, real, verbose=False)
    return {"precision": out["precision"], "recall": out["recall"]}


def full_matrix_density_coverage(
    generated: torch.Tensor, real: torch.Tensor, k: int = 5
) -> dict[str, float]:
    """Density and coverage from full float32 distance matrices."""
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values
    distances = torch.cdist(generated, real)
    density = (distances < radii[None, :]).sum().item() / (k * len(generated))
    coverage = (distances.min(dim=0).values < radii).double().mean().item()
    return {"density": density, "coverage": coverage}


def run(n: int, dim: int, repeats: int) -> None:
    real = synthetic_features(1, n, dim, shift=0.0, scale=1.0)
    generated = synthetic_features(2, n, dim, shift=0.15, scale=1.1)
    real_t, generated_t = torch.from_numpy(real.copy()), torch.from_numpy(generated.copy())
    print(f"\n== N = M = {n}, d = {dim} ==")

    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    times: dict[str, tuple[float, float]] = {}

    t_ours, fid = best_time(
        lambda: frechet_distance(frechet_statistics(real), frechet_statistics(generated)), repeats
    )
    t_theirs, reference_fid = best_time(lambda: torch_fidelity_fid(generated_t, real_t), repeats)
    ours["fid"], theirs["fid"] = fid, reference_fid
    times["FID"] = (t_ours, t_theirs)

    t_ours, kid = best_time(lambda: kernel_inception_distance(generated, real), repeats)
    t_theirs, (kid_mean, kid_std) = best_time(
        lambda: torch_fidelity_kid(generated_t, real_t), repeats
    )
    ours.update(kid_mean=kid.mean, kid_std=kid.std)
    theirs.update(kid_mean=kid_mean, kid_std=kid_std)
    times["KID"] = (t_ours, t_theirs)

    t_ours, neighbours = best_time(
        lambda: neighbour_metrics(RealNeighbourhood.from_features(real), generated), repeats
    )
    t_prc, prc = best_time(lambda: torch_fidelity_prc(generated_t, real_t), repeats)
    t_dc, dc = best_time(lambda: full_matrix_density_coverage(generated_t, real_t), repeats)
    ours.update(neighbours)
    theirs.update(prc, **dc)
    times["P/R + D/C"] = (t_ours, t_prc + t_dc)

    suite_theirs = sum(t for _, t in times.values())

    classic = {"frechet_infinity": False, "newer": False}

    def full_suite() -> dict[str, float]:
        return sample_metrics(prepare_reference(real), generated, **classic)

    t_suite, suite = best_time(full_suite, repeats)
    times["suite, no reference"] = (t_suite, suite_theirs)
    t_cold, scored = best_time(
        lambda: score_samples(prepare_reference(real), generated, **classic), repeats
    )
    times[f"suite + {BOOTSTRAP_RESAMPLES}-resample intervals, cold"] = (t_cold, suite_theirs)
    t_newer, _ = best_time(
        lambda: score_samples(prepare_reference(real), generated, frechet_infinity=False),
        repeats,
    )
    times["whole suite with newer metrics + intervals, cold"] = (t_newer, suite_theirs)
    t_infinity, _ = best_time(
        lambda: frechet_distance_infinity(frechet_statistics(real), generated), 1
    )
    t_prepare, reference = best_time(lambda: prepare_reference(real), 1)
    t_first, _ = best_time(lambda: sample_metrics(reference, generated, **classic), 1)
    t_further, _ = best_time(lambda: sample_metrics(reference, generated, **classic), repeats)
    times["suite, prepared reference (first model)"] = (t_first, suite_theirs)
    times["suite, prepared reference (further models)"] = (t_further, suite_theirs)

    print(f"{'item':50s} {'genbench s':>11s} {'torch-fidelity s':>17s} {'speed-up':>9s}")
    for name, (mine, other) in times.items():
        print(f"{name:50s} {mine:11.2f} {other:17.2f} {other / mine:8.1f}x")
    print(f"(reference preparation alone: {t_prepare:.2f} s; FD∞ alone: {t_infinity:.2f} s)")
    print(
        f"(the newer metrics and their intervals, read from the classic metrics' blocks: "
        f"{t_newer - t_cold:.2f} s of the whole suite)"
    )
    t_blocks, _ = best_time(lambda: inner_product_blocks(real, generated), repeats)
    print(
        f"(the three N x N float32 inner-product blocks alone, symmetric ones by syrk: "
        f"{t_blocks:.2f} s, the floor of any exact k-NN computation here; "
        f"{suite_theirs / 5:.2f} s would be 5x torch-fidelity)"
    )
    print(
        f"(intervals: fid {scored.intervals['fid'].se:.3g} se, "
        f"precision {scored.intervals['precision'].se:.3g} se; torch-fidelity has none)"
    )

    print(f"{'metric':12s} {'genbench':>16s} {'reference':>16s} {'difference':>11s}")
    for name in ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage"):
        difference = abs(ours[name] - theirs[name])
        if name == "fid":
            difference /= abs(theirs[name])
        print(f"{name:12s} {ours[name]:16.9g} {theirs[name]:16.9g} {difference:11.2e}")
    print("(fid: relative difference; others absolute. D/C reference: full distance matrices)")
    suite_gap = max(abs(suite[name] - ours[name]) for name in ours if name != "fid")
    print(f"suite vs standalone genbench values: max difference {suite_gap:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per side")
    parser.add_argument("--dims", type=int, nargs="+", default=[2048, 128])
    parser.add_argument("--repeats", type=int, default=1, help="report the best of this many runs")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        for dim in args.dims:
            run(args.n, dim, args.repeats)


if __name__ == "__main__":
    main()
