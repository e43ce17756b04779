"""The contract every registered model must keep, checked for every built-in
model on a small task of each modality it supports (smoke budget)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.checkpoints import Checkpoint
from genbench.plugins import get_plugin_manager
from genbench.registry import Registry
from genbench.run.validation import validate_log_likelihood
from genbench.specs import CAPABILITIES, LogLikelihood

REGISTRY = Registry(get_plugin_manager())
SMALL_TASKS = {"image": "image/digits", "toy": "toy/ring8", "audio": "audio/digits"}
N = 12


def _small_task(modality: str) -> str | None:
    if modality in SMALL_TASKS:
        return SMALL_TASKS[modality] if SMALL_TASKS[modality] in REGISTRY.tasks else None
    names = sorted(t.name for t in REGISTRY.tasks.values() if t.modality == modality)
    return names[0] if names else None


CASES = [
    pytest.param(spec.name, task, id=f"{spec.name}-{task}")
    for spec in sorted(REGISTRY.models.values(), key=lambda s: s.name)
    for task in filter(None, (_small_task(m) for m in spec.modalities))
]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


def _fit(spec, task, checkpoints: Path):
    checkpoint = Checkpoint(
        checkpoints,
        {"network": spec.trains_as or spec.name, "task": task.name, "plugin": spec.plugin},
    )
    model = REGISTRY.pm.hook.fit(
        spec=spec, task=task, budget="smoke", seed=3, checkpoint=checkpoint, device="cpu"
    )
    return model, checkpoint


@pytest.mark.parametrize(("model_name", "task_name"), CASES)
def test_model_keeps_the_hook_contract(model_name, task_name, checkpoints):
    spec, task = REGISTRY.model(model_name), REGISTRY.task(task_name)
    hook = REGISTRY.pm.hook
    model, checkpoint = _fit(spec, task, checkpoints)
    assert model is not None, "fit must return a model for its own spec"

    first = task.validate_samples(hook.sample(model=model, n=N, seed=11), N)
    again = task.validate_samples(hook.sample(model=model, n=N, seed=11), N)
    other = task.validate_samples(hook.sample(model=model, n=N, seed=12), N)
    if isinstance(first, torch.Tensor):
        assert torch.equal(first, again), "the same seed must give the same samples"
        if spec.name not in ("memorizer",):
            assert not torch.equal(first, other) or spec.options.get("decoding") == "greedy"
    else:
        assert first == again

    x = task.likelihood_batch("smoke")[:N]
    result = hook.log_likelihood(model=model, x=x)
    if "log_likelihood" in spec.capabilities:
        assert isinstance(result, LogLikelihood)
        validate_log_likelihood(result, len(x), discrete=task.levels is not None)
        assert result.nats.dtype == np.float64
    else:
        assert result is None, "a model must not answer a hook it does not declare"

    x = task.reconstruction_batch("smoke")[:N]
    recon = hook.reconstruct(model=model, x=x)
    if "reconstruct" in spec.capabilities:
        task.validate_samples(recon, len(x))
    else:
        assert recon is None, "a model must not answer a hook it does not declare"

    info = hook.model_info(model=model)
    if info is not None:
        assert all(isinstance(v, (int, float)) and v >= 0 for v in info.values())

    if checkpoint.path.exists():
        reloaded, _ = _fit(spec, task, checkpoints)
        samples = task.validate_samples(hook.sample(model=reloaded, n=N, seed=11), N)
        if isinstance(first, torch.Tensor):
            assert torch.equal(samples, first), "a reloaded checkpoint must sample the same"


def test_every_declared_capability_is_known():
    for spec in REGISTRY.models.values():
        assert spec.capabilities <= set(CAPABILITIES)
        assert "sample" in spec.capabilities or spec.capabilities, spec.name
