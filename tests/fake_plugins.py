"""Tiny plugins for the harness tests, loaded with ``--plugin`` (a file, so
spawned and Dask workers can load it too).

Each fake model misbehaves in one way on the toy tasks (``fake-hangs``,
``fake-spins`` and ``fake-stuck`` run past any time limit: sleeping in short
steps, busy-looping in Python, and asleep in native code, which no
exception can interrupt; ``fake-ll-shifted`` answers ``log_likelihood`` well
on the test set only, badly on the shifted sets); ``fake-good`` is a
well-behaved Gaussian whose quality is set by ``options["scale"]`` (used to
make a deliberately degraded model for the regression check).
"""

from __future__ import annotations

import os
import time

import torch

from genbench import LogLikelihood, ModelSpec, hookimpl

_BEHAVIOURS = {
    "fake-good": {"scale": float(os.environ.get("FAKE_GOOD_SCALE", "1.0"))},
    "fake-nan": {},
    "fake-shape": {},
    "fake-dtype": {},
    "fake-raises": {},
    "fake-hangs": {},
    "fake-spins": {},
    "fake-stuck": {},
    "fake-none": {},
    "fake-ll-shape": {},
    "fake-ll-shifted": {},
}


class FakeModel:
    def __init__(self, name: str, centre: torch.Tensor, scale: float) -> None:
        self.name, self.centre, self.scale = name, centre, scale
        self.likelihood_calls = 0


@hookimpl
def register_models(register):
    for name, options in _BEHAVIOURS.items():
        capabilities = (
            {"sample", "log_likelihood"}
            if name in ("fake-good", "fake-none", "fake-ll-shape", "fake-ll-shifted")
            else {"sample"}
        )
        register(
            ModelSpec(
                name=name,
                family="fake",
                modalities=("toy",),
                capabilities=capabilities,
                options=options,
                description=f"test double: {name}",
            )
        )


@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    if spec.family != "fake":
        return None
    if spec.name == "fake-raises":
        raise RuntimeError("the fake plugin exploded while fitting")
    train = task.load().train
    return FakeModel(spec.name, train.mean(dim=0), float(spec.options.get("scale", 1.0)))


@hookimpl
def sample(model, n, seed):
    if not isinstance(model, FakeModel):
        return None
    generator = torch.Generator().manual_seed(seed)
    points = model.centre + model.scale * torch.randn((n, 2), generator=generator)
    if model.name == "fake-nan":
        points[3, 1] = float("nan")
    elif model.name == "fake-shape":
        points = points[:, :1]
    elif model.name == "fake-dtype":
        points = points.double()
    elif model.name == "fake-hangs":  # sleeps in short steps: interruptible
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.05)
    elif model.name == "fake-spins":  # a busy loop in Python: interruptible
        count = 0
        while True:
            count += 1
    elif model.name == "fake-stuck":  # stuck in native code: cannot be interrupted
        time.sleep(float(os.environ.get("FAKE_STUCK_SECONDS", "600")))
    return points


@hookimpl
def log_likelihood(model, x):
    if not isinstance(model, FakeModel) or model.name == "fake-none":
        return None
    dist = torch.distributions.Normal(model.centre.double(), model.scale)
    nats = dist.log_prob(x.double()).sum(dim=1)
    model.likelihood_calls += 1
    if model.name == "fake-ll-shape" or (
        model.name == "fake-ll-shifted" and model.likelihood_calls > 1  # the shifted sets
    ):
        return LogLikelihood(nats=nats[:-1].numpy(), exact=True)
    return LogLikelihood(nats=nats.numpy(), exact=True)
