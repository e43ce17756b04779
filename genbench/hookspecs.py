"""Every genbench hook, with its contract.

Conventions shared by all hooks:

* Registration hooks (``register_*``) are called on every plugin; each hands
  objects to the ``register`` callback and returns nothing.
* Work hooks (``fit``, ``sample``, ``log_likelihood``, ``reconstruct``,
  ``model_info``) are called on **one plugin only**: the one that registered
  the spec (``fit``) and so produced the model (every later hook). Another
  plugin's implementations are never asked, so a plugin that forgets to
  check whose model it was handed cannot answer for other plugins' models.
  Within its own plugin an implementation may still return ``None`` ("no
  answer"), e.g. for a model whose spec does not declare that capability.
* Data formats at the boundary (``task.modality``):

  - ``image``: ``torch.uint8`` tensor ``N x C x H x W`` with values in
    ``[0, task.levels - 1]``;
  - ``toy``: ``torch.float32`` tensor ``N x D``;
  - ``audio``: ``torch.float32`` waveform ``N x T`` in ``[-1, 1]`` at
    ``task.sample_rate`` (likelihoods on 8-bit mu-law codes, ``torch.int64``);
  - ``text``: ``list[str]`` for samples; ``list[torch.LongTensor]`` of token
    ids in the task's vocabulary for likelihoods and reconstructions.

  The harness validates everything a plugin returns (type, shape, dtype,
  range, NaN/inf); a violation fails the run with a record naming the plugin
  and the hook, and never reaches a metric.
* Seeds are ``int`` in ``[0, 2**63)``, derived by the harness
  (:func:`genbench.hashing.derive_seed`); a plugin seeds every random draw
  from them so a run is reproducible. ``torch.Generator().manual_seed`` and
  ``numpy.random.default_rng`` take them as they are; libraries that want a
  32-bit seed (scikit-learn's ``random_state``, ``numpy.random.seed``,
  ``random.seed`` is fine) take :func:`genbench.seed32` ``(seed)``, which is
  ``seed % 2**32``.
* Devices: ``fit`` receives the ``torch.device`` the run computes on
  (``--device``; ``cpu`` unless asked otherwise). A plugin moves its
  networks and data there, creates every tensor there (``device=`` on
  factory calls) and seeds generators there (``torch.Generator(device=...)``);
  the later hooks compute where the fitted model lives. Every hook hands its
  results back on the CPU. ``device`` is optional for an implementation:
  pluggy lets it leave the argument out (it then runs where it likes, e.g.
  on the CPU), and one that declares it with a default
  (``device: torch.device | None = None``) still gets the run's device, so
  direct calls without it keep working. The device is recorded in a run's
  provenance and never changes its configuration hash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import torch

    from genbench.checkpoints import Checkpoint
    from genbench.metrics.info import MetricInfo
    from genbench.specs import Condition, LogLikelihood, ModelSpec
    from genbench.tasks.base import Task

hookspec = pluggy.HookspecMarker("genbench")


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Hand this plugin's models to ``register``, one :class:`ModelSpec` each.

    The registry fills in ``spec.plugin`` (this plugin's name) and
    ``spec.plugin_version``. A duplicate model name, from this or another
    plugin, is an error at registration.

    Example::

        @genbench.hookimpl
        def register_models(register):
            register(ModelSpec(name="my-vae", family="vae", modalities=("image",),
                               capabilities={"sample", "reconstruct"}))
    """


@hookspec
def register_tasks(register: Callable[[Task], None]) -> None:
    """Hand this plugin's tasks (datasets) to ``register``, one
    :class:`genbench.tasks.base.Task` each. Task names look like
    ``"image/mnist"``: a modality, a slash, a name. Duplicates are errors."""


@hookspec
def register_metrics(register: Callable[[MetricInfo], MetricInfo]) -> None:
    """Hand the metrics this plugin's models report (through ``model_info``
    or a task's ``extra_metrics``) to ``register``, one
    :class:`genbench.metrics.MetricInfo` each: name, unit, which way is
    better, modalities, description and kind. Leaderboards and ``genbench
    check`` learn columns and directions from here, without running a
    model. Registering a name already known with different metadata is an
    error; the identical metadata again is a no-op.

    Example::

        @genbench.hookimpl
        def register_metrics(register):
            register(MetricInfo("acceptance_rate", "1", True, ("text",),
                                "Fraction of draft tokens accepted.", "speed"))
    """


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def fit(
    spec: ModelSpec,
    task: Task,
    budget: str,
    seed: int,
    checkpoint: Checkpoint,
    device: torch.device,
) -> Any | None:
    """Train (or load) ``spec`` on ``task.load().train`` and return the model.

    Args:
        spec: the model to fit; answer only for your own specs.
        task: the task; ``task.load()`` gives its splits (cached).
        budget: ``"smoke"``, ``"default"``, ``"full"`` or a ladder rung
            ``"default-xK"`` (``K`` times the default compute); use
            ``spec.hyperparameters(budget, task.modality)``, which resolves
            every one of them (a rung multiplies ``spec.ladder_keys``). A
            plugin that handles budgets itself reads the string, e.g. with
            ``genbench.specs.parse_budget(budget)`` → ``("default", K)``.
        seed: seeds initialisation and data order.
        checkpoint: the harness's cache slot for this (plugin version,
            training config, task content, seed, budget). Call
            ``checkpoint.load()`` first and skip training when it returns a
            state dict; after training, ``checkpoint.save(state_dict)``
            (tensors on the CPU, so the checkpoint loads anywhere).
        device: where to train and keep the model (see the module
            docstring); a device running out of memory fails this run only.

    Returns:
        Any object the other hooks of this plugin recognise (the "model"), or
        ``None`` when ``spec`` is not this plugin's.
    """


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def sample(model: Any, n: int, seed: int, condition: Condition | None) -> Any | None:
    """Draw ``n`` samples from ``model`` in the task's data format.

    Args:
        model: what this plugin's ``fit`` returned.
        n: the number of samples.
        seed: seeds every random draw of the call.
        condition: ``None`` for a plain (unconditional) call; else a
            :class:`~genbench.specs.Condition`: ``condition.labels`` (an
            ``int64`` tensor of shape ``(n,)``, sample ``i`` of class
            ``labels[i]``) and ``condition.guidance`` (the classifier-free
            guidance scale ``w``; ``0`` unconditional, ``1`` conditional).
            The harness passes a Condition only to models whose spec
            declares the ``conditional_sample`` capability (which needs
            ``sample`` too), on tasks with classes. The argument is
            optional for an implementation: one that does not declare it
            is called without it and keeps working unchanged; one that
            does should give it a default (``condition=None``) so direct
            calls without it keep working.

    Returns exactly ``n`` samples (see the data formats in this module's
    docstring), identical for the same ``seed`` and ``condition``; ``None``
    when ``model`` is not this plugin's.
    """


@hookspec(firstresult=True)
def log_likelihood(model: Any, x: Any) -> LogLikelihood | None:
    """Per-example log-probability of ``x`` under ``model``.

    Args:
        x: a batch of test examples in the task's data format (for text and
            audio: token ids / mu-law codes).

    Returns:
        :class:`~genbench.specs.LogLikelihood` with ``nats`` of shape
        ``(len(x),)``: log p(x_i) in **nats** in the task's discrete space
        (or log-density for continuous toy tasks), with ``exact`` set to
        ``False`` for a lower bound. The harness alone converts to bits/dim,
        bits per character/byte and perplexity. ``None`` when ``model`` is not
        this plugin's.
    """


@hookspec(firstresult=True)
def reconstruct(model: Any, x: Any) -> Any | None:
    """Encode and decode ``x``; return reconstructions in the same format,
    shape and dtype as ``x``. ``None`` when ``model`` is not this plugin's."""


@hookspec(firstresult=True)
def model_info(model: Any) -> dict[str, float] | None:
    """Facts about a fitted model for the leaderboard, e.g.
    ``{"parameters": 1.2e6, "nfe": 50}`` (network evaluations per sample).
    Optional; ``None`` when ``model`` is not this plugin's (the harness then
    counts parameters of a ``torch.nn.Module`` itself)."""
