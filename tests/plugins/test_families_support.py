"""Tiny tasks and helpers shared by the families' tests (this module holds
no tests). The tasks are small enough that every family fits on them in
well under a second at the ``smoke`` budget."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from genbench_families.catalogue import SPECS_BY_NAME
from genbench_families.plugin import FittedModel, fit

from genbench import ModelSpec
from genbench.checkpoints import Checkpoint
from genbench.features.identity import IdentityFeatures
from genbench.tasks.base import Task, TaskData


class TinyBarsTask(Task):
    """4x4 images with 4 levels: one bright horizontal or vertical bar on a
    dark background, with a little noise; 256 train and 64 test images,
    labelled by the bar's direction (0 horizontal, 1 vertical: what the
    class-conditional rows train on)."""

    name = "image/tiny-bars"
    modality = "image"
    levels = 4
    example_shape = (1, 4, 4)

    def _load(self) -> TaskData:
        rng = np.random.default_rng(0)

        def draw(n: int) -> tuple[torch.Tensor, np.ndarray]:
            images = np.zeros((n, 1, 4, 4), dtype=np.int64)
            labels = np.zeros(n, dtype=np.int64)
            for i in range(n):
                position = rng.integers(4)
                if rng.random() < 0.5:
                    images[i, 0, position, :] = 3
                else:
                    images[i, 0, :, position] = 3
                    labels[i] = 1
            noise = rng.random(images.shape) < 0.05
            images[noise] = rng.integers(0, 4, size=int(noise.sum()))
            return torch.from_numpy(images.astype(np.uint8)), labels

        (train, train_labels), (test, test_labels) = draw(256), draw(64)
        return TaskData(train=train, test=test, train_labels=train_labels, test_labels=test_labels)

    def feature_extractor(self) -> IdentityFeatures:
        return IdentityFeatures(16)


class TinyBlobsTask(Task):
    """Two 2-D Gaussian blobs at ``(±3, 1)`` with standard deviation 0.5;
    512 train and 128 test points; :meth:`log_density` is exact."""

    name = "toy/tiny-blobs"
    modality = "toy"
    levels = None
    example_shape = (2,)
    centres = np.array([[-3.0, 1.0], [3.0, 1.0]])
    sigma = 0.5

    def _load(self) -> TaskData:
        rng = np.random.default_rng(1)

        def draw(n: int) -> torch.Tensor:
            labels = rng.integers(2, size=n)
            points = self.centres[labels] + self.sigma * rng.standard_normal((n, 2))
            return torch.from_numpy(points.astype(np.float32))

        return TaskData(train=draw(512), test=draw(128))

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Exact log-density (nats) of each row of ``x``."""
        squared = ((np.asarray(x)[:, None, :] - self.centres[None]) ** 2).sum(-1)
        log_normal = -squared / (2 * self.sigma**2) - math.log(2 * math.pi * self.sigma**2)
        return np.logaddexp(log_normal[:, 0], log_normal[:, 1]) - math.log(2)

    def feature_extractor(self) -> IdentityFeatures:
        return IdentityFeatures(2)


def classes_for(spec: ModelSpec, num_classes: int = 2) -> dict[str, int]:
    """``build``'s ``num_classes`` keyword for a class-conditional row
    (``num_classes`` classes), none for any other row."""
    return {"num_classes": num_classes} if "conditional_sample" in spec.capabilities else {}


def smoke_spec(name: str, modality: str, **overrides: Any) -> ModelSpec:
    """The registered spec ``name`` with its ``smoke`` hyper-parameters for
    ``modality`` updated by ``overrides`` (e.g. fewer steps)."""
    spec = SPECS_BY_NAME[name]
    budgets = {b: {m: dict(h) for m, h in per.items()} for b, per in spec.budgets.items()}
    budgets["smoke"][modality].update(overrides)
    return dataclasses.replace(spec, budgets=budgets)


def fit_model(
    name: str, task: Task, directory: Path, seed: int = 0, **overrides: Any
) -> FittedModel:
    """Fit model ``name`` on ``task`` at the smoke budget (hyper-parameters
    changed by ``overrides``) with a checkpoint slot under ``directory``."""
    spec = smoke_spec(name, task.modality, **overrides)
    key = {"model": spec.trains_as or name, "task": task.name, "seed": seed, **overrides}
    model = fit(
        spec=spec, task=task, budget="smoke", seed=seed, checkpoint=Checkpoint(directory, key)
    )
    assert isinstance(model, FittedModel)
    return model


def perturb(module: torch.nn.Module, scale: float, seed: int = 0) -> None:
    """Add seeded Gaussian noise to every parameter (so zero-initialised
    layers stop being the identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    """Elementwise ``|actual - expected| <= atol`` with the worst gap in the
    message (``torch.testing.assert_close`` costs seconds on first use)."""
    assert actual.shape == expected.shape, f"shapes {actual.shape} != {expected.shape}"
    gap = (actual.double() - expected.double()).abs().max().item()
    assert gap <= atol, f"max |difference| {gap:.3g} > {atol:.3g}"


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_the_final_fraction():
    from genbench_families.training import Schedule

    schedule = Schedule(warmup_steps=4, decay="cosine", final_fraction=0.1)
    assert [schedule.factor(s, 14) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert schedule.factor(4, 14) == pytest.approx(1.0)
    assert schedule.factor(9, 14) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 9))
    )
    assert schedule.factor(13, 14) == pytest.approx(0.1)
    assert Schedule().factor(7, 14) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warmup_steps": -1}, "warmup_steps must be >= 0"),
        ({"decay": "linear"}, "decay must be 'constant' or 'cosine'"),
        ({"final_fraction": 2.0}, "final_fraction must lie in"),
    ],
)
def test_schedule_rejects_bad_settings(kwargs, message):
    from genbench_families.training import Schedule

    with pytest.raises(ValueError, match=message):
        Schedule(**kwargs)


def _fit_mean_with_early_stopping(steps: int, patience: int) -> tuple[list[float], float]:
    """Fit a mean to zeros while the held-out rows are all 10: every step
    towards the training optimum worsens the held-out loss."""
    from genbench_families.training import EarlyStopping, train

    rule = EarlyStopping(holdout_fraction=0.05, check_every=10, patience=patience)
    _, held = rule.split(torch.arange(100.0)[:, None], torch.Generator().manual_seed(0))
    data = torch.zeros(100, 1)
    data[held.long().flatten()] = 10.0
    weight = torch.nn.Parameter(torch.tensor([5.0]))
    losses = train(
        lambda batch: ((batch - weight) ** 2).mean(),
        [weight],
        data,
        steps=steps,
        batch_size=10,
        lr=0.1,
        generator=torch.Generator().manual_seed(0),
        early_stopping=rule,
    )
    return losses, float(weight.detach())


def test_early_stopping_stops_once_the_held_out_loss_stalls_and_restores_the_best_weights():
    losses, restored = _fit_mean_with_early_stopping(steps=10_000, patience=2)
    # Best at the first check (step 10); two worse checks later it stops.
    assert len(losses) == 30
    _, after_first_check = _fit_mean_with_early_stopping(steps=10, patience=2)
    assert restored == after_first_check
    assert 0.0 < restored < 5.0


def test_early_stopping_rejects_a_holdout_that_leaves_nothing_to_train_on():
    from genbench_families.training import EarlyStopping

    with pytest.raises(ValueError, match="cannot hold out 2 of 2 examples"):
        EarlyStopping(holdout_fraction=0.9).split(torch.zeros(2, 1), torch.Generator())
    with pytest.raises(ValueError, match="holdout_fraction must lie in"):
        EarlyStopping(holdout_fraction=1.0)


def test_image_decoder_blocks_need_a_block_factory_and_residual_blocks_start_as_identity():
    from genbench_families.nets.image import Decoder
    from genbench_families.nets.residual import ResidualDecoder

    with pytest.raises(ValueError, match="blocks=2 needs a block factory"):
        Decoder(8, (1, 28, 28), 2, 4, blocks=2)
    with pytest.raises(ValueError, match="a residual network needs blocks >= 1, got 0"):
        ResidualDecoder(8, (1, 28, 28), 2, 4, blocks=0)
    # zero-initialised last convolutions: the residual decoder computes
    # what the plain decoder with the same surrounding weights computes
    torch.manual_seed(0)
    residual = ResidualDecoder(8, (1, 28, 28), 2, 4, blocks=1).eval()
    plain = Decoder(8, (1, 28, 28), 2, 4).eval()
    plain.project.load_state_dict(residual.project.state_dict())
    without_blocks = [m for m in residual.body if type(m).__name__ != "ResidualBlock"]
    for target, source in zip(plain.body, without_blocks, strict=True):
        target.load_state_dict(source.state_dict())
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(residual(z), plain(z), rtol=0, atol=0)
