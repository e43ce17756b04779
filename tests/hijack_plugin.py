"""A plugin whose work hooks forget the "not mine, return None" guard:
they answer for every model (loaded with ``--plugin`` by the host tests)."""

from __future__ import annotations

import torch

from genbench import LogLikelihood, ModelSpec, hookimpl


class Greedy:
    pass


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="greedy",
            family="hijack",
            modalities=("toy",),
            capabilities={"sample", "log_likelihood", "reconstruct"},
        )
    )


@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    return Greedy()  # for every spec


@hookimpl
def sample(model, n, seed):
    return torch.full((n, 2), 7.0)  # for every model


@hookimpl
def log_likelihood(model, x):
    return LogLikelihood(nats=torch.full((len(x),), 5.0).double().numpy(), exact=True)


@hookimpl
def reconstruct(model, x):
    return x


@hookimpl
def model_info(model):
    return {"parameters": 42.0}
