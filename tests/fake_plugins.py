"""Tiny plugins for the harness tests, loaded with ``--plugin`` (a file, so
spawned and Dask workers can load it too).

Each fake model misbehaves in one way on the toy tasks (``fake-hangs``,
``fake-spins`` and ``fake-stuck`` run past any time limit: sleeping in short
steps, busy-looping in Python, and asleep in native code, which no
exception can interrupt; ``fake-ll-shifted`` answers ``log_likelihood`` well
on the test set only, badly on the shifted sets); ``fake-good`` is a
well-behaved Gaussian whose quality is set by ``options["scale"]`` (used to
make a deliberately degraded model for the regression check).

The ``fake-cond*`` models sample class-conditionally on image tasks with
classes: ``fake-cond`` mixes its class prototype (the mean training image
of the label) with the global mean by ``w / (1 + w)``, plus noise, so the
class accuracy rises with the guidance scale ``w``; ``fake-cond-real``
returns real training images of the label; ``fake-cond-shape``,
``fake-cond-nan`` and ``fake-cond-raises`` misbehave on conditional calls
only.
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
_CONDITIONAL = (
    "fake-cond",
    "fake-cond-real",
    "fake-cond-shape",
    "fake-cond-nan",
    "fake-cond-raises",
)


class FakeModel:
    def __init__(self, name: str, centre: torch.Tensor, scale: float) -> None:
        self.name, self.centre, self.scale = name, centre, scale
        self.likelihood_calls = 0


class ConditionalModel:
    """Training images and labels of an image task, and the level count."""

    def __init__(self, name: str, images: torch.Tensor, labels, levels: int) -> None:
        self.name, self.images, self.levels = name, images, levels
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        classes = int(self.labels.max()) + 1
        pixels = images.to(torch.float32)
        self.prototypes = torch.stack(
            [pixels[self.labels == c].mean(dim=0) for c in range(classes)]
        )
        self.mean = pixels.mean(dim=0)

    def sample(self, n, seed, condition):
        generator = torch.Generator().manual_seed(seed)
        if condition is None:
            labels = torch.randint(len(self.prototypes), (n,), generator=generator)
            weight = 0.0
        else:
            labels, weight = condition.labels, condition.guidance / (1.0 + condition.guidance)
        if self.name == "fake-cond-real":
            rows = [
                torch.nonzero(self.labels == label).flatten()[
                    torch.randint(int((self.labels == label).sum()), (1,), generator=generator)
                ]
                for label in labels.tolist()
            ]
            return self.images[torch.cat(rows)].clone()
        pixels = weight * self.prototypes[labels] + (1.0 - weight) * self.mean
        pixels = pixels + torch.randn(pixels.shape, generator=generator)
        images = pixels.round().clamp(0, self.levels - 1).to(torch.uint8)
        if condition is None:
            return images
        if self.name == "fake-cond-shape":
            return images[..., :4]
        if self.name == "fake-cond-nan":
            broken = images.to(torch.float32)
            broken[0, 0, 0, 0] = float("nan")
            return broken
        if self.name == "fake-cond-raises" and condition.guidance == 2.0:
            raise RuntimeError("the fake plugin exploded at guidance 2")
        return images


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
    for name in _CONDITIONAL:
        register(
            ModelSpec(
                name=name,
                family="fake",
                modalities=("image",),
                capabilities={"sample", "conditional_sample"},
                description=f"test double: {name}",
            )
        )


@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    if spec.family != "fake":
        return None
    if spec.name in _CONDITIONAL:
        data = task.load()
        return ConditionalModel(spec.name, data.train, data.train_labels, task.levels)
    if spec.name == "fake-raises":
        raise RuntimeError("the fake plugin exploded while fitting")
    train = task.load().train
    return FakeModel(spec.name, train.mean(dim=0), float(spec.options.get("scale", 1.0)))


@hookimpl
def sample(model, n, seed, condition=None):
    if isinstance(model, ConditionalModel):
        return model.sample(n, seed, condition)
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
