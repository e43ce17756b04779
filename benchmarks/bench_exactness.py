"""FID and KID on genbench's own features against their references.

For the MNIST and audio digit tasks, extracts the in-domain features of the
first 1,000 test and 1,000 held-out examples (ReLU layers with 28 and 21
dead units) and prints the Fréchet distance from genbench, from a float64
``scipy.linalg.sqrtm`` computation and from torch-fidelity, with the
relative differences, and KID from genbench and torch-fidelity (subsets of
500). Usage::

    python benchmarks/bench_exactness.py
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from genbench.metrics import frechet_distance, frechet_statistics, kernel_inception_distance
from genbench.tasks.audio import DigitsAudioTask
from genbench.tasks.base import Task
from genbench.tasks.image import MnistTask

EXAMPLES = 1000
KID_SUBSET = 500


def sqrtm_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance with covariances in float64 and ``sqrtm``."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns on the singular product
        root = scipy.linalg.sqrtm(s1 @ s2).real
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def torch_fidelity_fid(a: np.ndarray, b: np.ndarray) -> float:
    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (a, b)]
    return float(fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"])


def torch_fidelity_kid(generated: np.ndarray, real: np.ndarray) -> float:
    result = kid_features_to_metric(
        torch.from_numpy(generated), torch.from_numpy(real), kid_subset_size=KID_SUBSET,
        verbose=False,
    )  # fmt: skip
    return float(result["kernel_inception_distance_mean"])


def compare(task: Task) -> None:
    data, extractor = task.load(), task.feature_extractor()
    real = extractor.extract(data.test[:EXAMPLES])[0]
    held_out = extractor.extract(data.holdout[:EXAMPLES])[0]
    ours = frechet_distance(frechet_statistics(real), frechet_statistics(held_out))
    reference = sqrtm_fid(real, held_out)
    fidelity = torch_fidelity_fid(real, held_out)
    kid = kernel_inception_distance(held_out, real, subset_size=KID_SUBSET).mean
    kid_fidelity = torch_fidelity_kid(held_out, real)
    print(f"{task.name}: {int((real.max(axis=0) == 0).sum())} dead units of {real.shape[1]}")
    print(
        f"  FID genbench       {ours:.12g}  rel. to sqrtm {abs(ours - reference) / reference:.2e}"
    )
    print(f"  FID float64 sqrtm  {reference:.12g}")
    print(
        f"  FID torch-fidelity {fidelity:.12g}  rel. to sqrtm "
        f"{abs(fidelity - reference) / reference:.2e}"
    )
    print(
        f"  KID genbench {kid:.10g}, torch-fidelity {kid_fidelity:.10g}, "
        f"rel. {abs(kid - kid_fidelity) / abs(kid_fidelity):.2e}"
    )


def main() -> None:
    torch.set_num_threads(1)
    for task in (MnistTask(), DigitsAudioTask()):
        compare(task)


if __name__ == "__main__":
    main()
