"""Hook implementations of the baseline models.

Their ``fit`` takes no ``device``: the baselines are closed-form float64
computations (Apple's Metal has no float64) that take well under a second,
so they run on the CPU under every ``--device`` and their records say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from genbench import Condition, LogLikelihood, ModelSpec, hookimpl
from genbench.checkpoints import Checkpoint
from genbench.tasks.base import Task
from genbench_baselines.gaussian import DiscretisedGaussian, Gaussian
from genbench_baselines.resample import ResamplingModel
from genbench_baselines.uniform import Uniform

_SPECS = (
    ModelSpec(
        name="data",
        family="baseline",
        modalities=("image", "toy", "audio", "text"),
        capabilities={"sample", "conditional_sample"},
        description="held-out real data (the metrics' noise floor)",
        noise_floor=True,
    ),
    ModelSpec(
        name="memorizer",
        family="baseline",
        modalities=("image", "toy", "audio", "text"),
        capabilities={"sample"},
        description="returns training examples (memorisation must flag it)",
        ladder_keys=(),
    ),
    ModelSpec(
        name="gaussian",
        family="baseline",
        modalities=("image", "toy"),
        capabilities={"sample", "log_likelihood"},
        budgets={"default": {"ridges": [1.0, 10.0, 100.0, 1000.0, 3000.0]}},
        description="full-covariance Gaussian, discretised per dimension (exact likelihood)",
    ),
    ModelSpec(
        name="uniform",
        family="baseline",
        modalities=("image", "toy", "audio"),
        capabilities={"sample", "log_likelihood"},
        description="uniform over the data's levels (log2(levels) bits/dim)",
        ladder_keys=(),
    ),
)
_NAMES = {spec.name for spec in _SPECS}
CONTINUOUS_RIDGE = 1e-6
"""Added to the diagonal of a continuous task's covariance for stability."""
BaselineModel = ResamplingModel | Gaussian | DiscretisedGaussian | Uniform


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register the four baselines."""
    for spec in _SPECS:
        register(spec)


@hookimpl
def fit(
    spec: ModelSpec, task: Task, budget: str, seed: int, checkpoint: Checkpoint
) -> BaselineModel | None:
    """Fit a baseline; they are closed-form, so nothing is checkpointed."""
    if spec.name not in _NAMES:
        return None
    data = task.load()
    if spec.name == "data":
        holdout = task.holdout_samples()
        if holdout is None:
            raise ValueError(f"task {task.name!r} has no holdout split for the 'data' baseline")
        return ResamplingModel(holdout, replace=False, labels=data.holdout_labels)
    if spec.name == "memorizer":
        return ResamplingModel(task.training_samples(), replace=True)
    if spec.name == "uniform":
        return Uniform.fit(task)
    if task.levels is None:
        return Gaussian.fit(data.train, ridge=CONTINUOUS_RIDGE)
    ridges = [float(r) for r in spec.hyperparameters(budget)["ridges"]]
    return DiscretisedGaussian.fit_validated(data.train, levels=task.levels, ridges=ridges)


@hookimpl
def sample(model: Any, n: int, seed: int, condition: Condition | None = None) -> Any | None:
    """Seeded samples from a baseline; ``None`` for other plugins' models.

    With a ``condition`` (the ``data`` row only) the samples are held-out
    examples of the classes asked for (the guidance scale is ignored: real
    data has no guidance), drawn from the same pool as its plain samples.
    """
    if not isinstance(model, BaselineModel):
        return None
    generator = torch.Generator().manual_seed(seed)
    if condition is None:
        return model.sample(n, generator)
    if not isinstance(model, ResamplingModel) or model.replace:
        raise ValueError("only the 'data' baseline samples class-conditionally")
    if len(condition.labels) != n:
        raise ValueError(f"asked for {n} samples with {len(condition.labels)} labels")
    return model.sample_classes(condition.labels, generator)


@hookimpl
def log_likelihood(model: Any, x: Any) -> LogLikelihood | None:
    """Exact log-likelihoods (nats per example) of the closed-form baselines."""
    if not isinstance(model, (Gaussian, DiscretisedGaussian, Uniform)):
        return None
    return LogLikelihood(nats=model.log_prob(x).numpy(), exact=True, method="exact")


@hookimpl
def model_info(model: Any) -> dict[str, float] | None:
    """Parameter counts of the fitted baselines (stored examples count as 0)."""
    if not isinstance(model, BaselineModel):
        return None
    return {"parameters": float(model.num_parameters), "nfe": 0.0}
