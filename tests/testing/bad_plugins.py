"""Three plugins that each break one promise the conformance kit checks."""

from __future__ import annotations

import math

import torch

from genbench import LogLikelihood, ModelSpec, hookimpl

IMAGE = ("image",)


class Model:
    def __init__(self, name: str, probs: torch.Tensor) -> None:
        self.name, self.probs = name, probs


@hookimpl
def register_models(register):
    for name in ("bad-random", "bad-overclaim", "bad-checkpoint"):
        register(
            ModelSpec(
                name=name,
                family="bad",
                modalities=IMAGE,
                capabilities={"sample", "log_likelihood"},
            )
        )


@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    state = checkpoint.load()
    if state is not None:
        probs = state["probs"]
        if spec.name == "bad-checkpoint":
            probs = torch.flip(probs, dims=[0])  # rebuilt wrongly from the checkpoint
        return Model(spec.name, probs)
    train = task.load().train.long()  # N x 1 x H x W levels
    counts = torch.stack([(train == v).sum() for v in range(task.levels)]).double() + 1
    probs = counts / counts.sum()
    checkpoint.save({"probs": probs})
    return Model(spec.name, probs)


@hookimpl
def sample(model, n, seed):
    generator = None if model.name == "bad-random" else torch.Generator().manual_seed(seed)
    draws = torch.multinomial(model.probs, n * 4, replacement=True, generator=generator)
    return draws.reshape(n, 1, 2, 2).to(torch.uint8)


@hookimpl
def log_likelihood(model, x):
    nats = torch.log(model.probs)[x.long()].reshape(len(x), -1).sum(1).numpy()
    if model.name == "bad-overclaim":
        nats = nats + math.log(1.3)
    return LogLikelihood(nats=nats, exact=True)
