"""genbench hook implementations for the model families.

Every work hook answers only for this plugin's specs (by name) or for a
:class:`FittedModel` it built, and only for hooks the model declares; it
returns ``None`` otherwise.

Devices: ``fit`` builds the model on the CPU (so initial weights are the
same everywhere), moves it with its data to the run's device and trains
there; every later hook computes where the model lives, draws its noise from
a generator on that device, and hands results back on the CPU. Checkpoints
hold CPU tensors. On the CPU every step is what it was before devices
existed, bit for bit.

Class-conditional rows (those declaring ``conditional_sample``) train on the
task's training labels, aligned with the training examples, and ``sample``
takes a :class:`~genbench.Condition` (labels and a guidance scale).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genbench import Condition, LogLikelihood, ModelSpec, hookimpl
from genbench.checkpoints import Checkpoint
from genbench.hashing import derive_seed
from genbench.tasks.base import Task
from genbench_families.base import GenerativeModel
from genbench_families.catalogue import SPECS, SPECS_BY_NAME, build, train_examples
from genbench_families.conditioning import checked_labels

PROBE_EXAMPLES = 64
"""Training examples a model's diagnostics (e.g. a flow's round trip) use."""


@dataclass
class FittedModel:
    """What ``fit`` returns: the trained algorithm and what the other hooks need.

    Attributes:
        name: the spec's name.
        model: the trained family algorithm (in eval mode).
        seed: the fit seed; fixes the noise of stochastic likelihood bounds.
        info: extra facts for ``model_info`` (e.g. a flow's round-trip error).
    """

    name: str
    model: GenerativeModel
    seed: int
    info: dict[str, float] = field(default_factory=dict)


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (any int in
    ``[0, 2**64)``). Streams differ between device kinds (a run is
    reproducible on the same hardware), and on the CPU are what they were."""
    return torch.Generator(device=device).manual_seed(int(seed))


def _declares(model: Any, capability: str) -> bool:
    """True when ``model`` is this plugin's and declares ``capability``."""
    return isinstance(model, FittedModel) and capability in model.model.capabilities


def _as_tensor(x: Any, device: torch.device) -> torch.Tensor:
    """``x`` (a tensor or array-like) as a tensor on ``device``."""
    if isinstance(x, torch.Tensor):
        return x.to(device)
    return torch.as_tensor(np.asarray(x), device=device)


def training_labels(spec: ModelSpec, task: Task) -> torch.Tensor | None:
    """The training split's class labels (int64, CPU, aligned with
    ``task.load().train``, the examples every row trains on) for a row
    declaring ``conditional_sample``; ``None`` for any other row.

    Raises:
        ValueError: the task has no training labels, or not one per example.
    """
    if "conditional_sample" not in spec.capabilities:
        return None
    data = task.load()
    if data.train_labels is None:
        raise ValueError(f"row {spec.name!r} trains on class labels; task {task.name!r} has none")
    labels = torch.as_tensor(np.asarray(data.train_labels, dtype=np.int64), device="cpu")
    if labels.shape != (len(data.train),):
        raise ValueError(
            f"task {task.name!r} has {tuple(labels.shape)} training labels for "
            f"{len(data.train)} training examples"
        )
    return labels


def class_count(task: Task, labels: torch.Tensor) -> int:
    """The number of classes ``K``: the task's ``num_classes`` where it
    declares one, else one more than the largest training label.

    Raises:
        ValueError: a training label lies outside ``[0, K)``.
    """
    declared = getattr(task, "num_classes", None)
    count = int(labels.max()) + 1 if declared is None else int(declared)
    checked_labels(labels, len(labels), count)
    return count


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """VAE (plus β-VAE, autoencoder and VQ-VAE variants), GAN (hinge and
    WGAN-GP rows), diffusion (DDPM and DDIM rows), RealNVP, MAF, PixelCNN
    and flow matching (Heun and 8-step Euler rows), each for image, toy and
    audio tasks (the MAF for image and toy tasks only); latent diffusion
    (DDPM and DDIM rows) and class-conditional diffusion, latent diffusion
    and flow matching with classifier-free guidance (image and audio
    tasks)."""
    for spec in SPECS:
        register(spec)


@hookimpl
def fit(
    spec: ModelSpec,
    task: Task,
    budget: str,
    seed: int,
    checkpoint: Checkpoint,
    device: torch.device | str | None = None,
) -> FittedModel | None:
    """Build the model, then load it from ``checkpoint`` or train and save it,
    on ``device`` (``None``: the CPU).

    Initialisation (on the CPU) and training draw only from ``seed`` (global
    RNG state is restored afterwards). The fitted model's extra facts come
    from its ``diagnostics`` on a few training examples and its
    ``held_out_diagnostics`` on the task's test split (reported, never
    trained on).
    """
    if spec.name not in SPECS_BY_NAME:
        return None
    where = torch.device(device if device is not None else "cpu")
    labels = training_labels(spec, task)
    num_classes = None if labels is None else class_count(task, labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build(
            spec, tuple(task.example_shape), task.levels, task.modality, budget, num_classes
        )
    model.to(where)
    state = checkpoint.load()
    if state is not None:
        model.load_state_dict(state)
    else:
        train_data = _as_tensor(task.load().train, where)
        model.space.fit_statistics(train_data)
        model.train()
        generator = seeded_generator(seed, where)
        if labels is None:
            model.fit(model.space.encode(train_data), generator)
        else:
            model.fit(model.space.encode(train_data), generator, labels.to(where))
        checkpoint.save({name: value.cpu() for name, value in model.state_dict().items()})
    model.eval()
    probe = model.space.encode(_as_tensor(task.load().train[:PROBE_EXAMPLES], where))
    info = dict(model.diagnostics(probe))
    test = model.space.encode(_as_tensor(task.load().test, where))
    info.update(model.held_out_diagnostics(test))
    examples = train_examples(spec.hyperparameters(budget, task.modality))
    if examples is not None:
        info["train_examples"] = examples
    return FittedModel(name=spec.name, model=model, seed=int(seed), info=info)


@hookimpl
def sample(
    model: Any, n: int, seed: int, condition: Condition | None = None
) -> torch.Tensor | None:
    """``n`` samples in the task's format; the same ``seed`` (and
    ``condition``) gives the same samples. With a ``condition`` (only for a
    class-conditional model), sample ``i`` is of class ``condition.labels[i]``
    at guidance ``condition.guidance``; without one, a conditional model
    draws its labels uniformly and uses its row's guidance.

    Raises:
        ValueError: a condition for a model that is not class-conditional,
            or labels that are not int64 of shape ``(n,)`` in ``[0, K)``.
    """
    if not isinstance(model, FittedModel):
        return None
    generator = seeded_generator(seed, model.model.device)
    with torch.no_grad():
        if condition is None:
            drawn = model.model.sample(int(n), generator)
        else:
            labels = condition_labels(model, condition, int(n))
            drawn = model.model.sample_conditional(
                labels.to(model.model.device), condition.guidance, generator
            )
    return model.model.space.decode(drawn).cpu()


def condition_labels(model: FittedModel, condition: Condition, n: int) -> torch.Tensor:
    """``condition.labels`` checked for a ``sample`` call of ``n`` samples
    from ``model``.

    Raises:
        ValueError: ``model`` is not class-conditional, or the labels are not
            an int64 tensor of shape ``(n,)`` with values in ``[0, K)``.
    """
    if not _declares(model, "conditional_sample"):
        raise ValueError(
            f"model {model.name!r} is not class-conditional: it samples without a Condition"
        )
    return checked_labels(condition.labels, n, model.model.num_classes)


@hookimpl
def log_likelihood(model: Any, x: Any) -> LogLikelihood | None:
    """Per-example log-probability in nats (discrete data: of the levels;
    continuous data: log-density of the original coordinates). Stochastic
    bounds draw their noise from a seed fixed by the fit seed. ``None`` for a
    model whose spec does not declare ``log_likelihood``."""
    if not _declares(model, "log_likelihood"):
        return None
    space, where = model.model.space, model.model.device
    generator = seeded_generator(derive_seed(model.seed, "log_likelihood"), where)
    with torch.no_grad():
        result = model.model.log_likelihood(space.encode(_as_tensor(x, where)), generator)
    nats = result.nats.double().cpu().numpy() + space.log_det()
    return LogLikelihood(
        nats=nats, exact=result.exact, method=result.method, details=dict(result.details)
    )


@hookimpl
def reconstruct(model: Any, x: Any) -> torch.Tensor | None:
    """Encode and decode ``x``; same shape and dtype as ``x``. ``None`` for a
    model whose spec does not declare ``reconstruct``."""
    if not _declares(model, "reconstruct"):
        return None
    space, where = model.model.space, model.model.device
    with torch.no_grad():
        return space.decode(model.model.reconstruct(space.encode(_as_tensor(x, where)))).cpu()


@hookimpl
def model_info(model: Any) -> dict[str, float] | None:
    """Trainable parameters, network evaluations per sample, training
    examples drawn (``train_examples``, see
    :func:`~genbench_families.catalogue.train_examples`), and extras."""
    if not isinstance(model, FittedModel):
        return None
    parameters = sum(p.numel() for p in model.model.parameters())
    info = {"parameters": float(parameters), "nfe": float(model.model.nfe())}
    info.update(model.info)
    return {k: v for k, v in info.items() if math.isfinite(v)}
