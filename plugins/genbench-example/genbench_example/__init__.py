"""An example genbench plugin: a Gaussian mixture model on the toy tasks.

Install it (``pip install ./plugins/genbench-example``) and it appears in
``genbench plugins`` and in every toy leaderboard it is run on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from genbench import LogLikelihood, ModelSpec, hookimpl

SPEC = ModelSpec(
    name="example-gmm",
    family="mixture",
    modalities=("toy",),
    capabilities={"sample", "log_likelihood"},
    budgets={
        "smoke": {"components": 8, "iterations": 20},
        "default": {"components": 25, "iterations": 200},
    },
    description="Gaussian mixture, full covariances (example third-party plugin)",
)


@dataclass
class MixtureModel:
    """A fitted mixture; the arrays are what the checkpoint stores."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def mixture(self) -> GaussianMixture:
        gmm = GaussianMixture(n_components=len(self.weights), covariance_type="full")
        gmm.weights_, gmm.means_, gmm.covariances_ = self.weights, self.means, self.covariances
        gmm.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(self.covariances))
        return gmm

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            name: torch.from_numpy(getattr(self, name))
            for name in ("weights", "means", "covariances")
        }


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(SPEC)


@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    if spec.name != SPEC.name:
        return None
    state = checkpoint.load()
    if state is not None:
        return MixtureModel(**{k: v.numpy() for k, v in state.items()})
    params = spec.hyperparameters(budget)
    gmm = GaussianMixture(
        n_components=params["components"],
        covariance_type="full",
        max_iter=params["iterations"],
        random_state=seed % 2**32,
    ).fit(task.load().train.numpy().astype(np.float64))
    model = MixtureModel(gmm.weights_, gmm.means_, gmm.covariances_)
    checkpoint.save(model.state_dict())
    return model


@hookimpl
def sample(model, n, seed):
    if not isinstance(model, MixtureModel):
        return None
    rng = np.random.default_rng(seed)
    component = rng.choice(len(model.weights), size=n, p=model.weights / model.weights.sum())
    chol = np.linalg.cholesky(model.covariances)[component]
    points = model.means[component] + np.einsum("nij,nj->ni", chol, rng.standard_normal((n, 2)))
    return torch.from_numpy(points.astype(np.float32))


@hookimpl
def log_likelihood(model, x):
    if not isinstance(model, MixtureModel):
        return None
    nats = model.mixture().score_samples(np.asarray(x, dtype=np.float64))
    return LogLikelihood(nats=nats, exact=True, method="exact")
