"""Plain data types that cross the plugin boundary.

Plugins build :class:`ModelSpec` objects in ``register_models`` and return
:class:`LogLikelihood` from ``log_likelihood``. Everything here is immutable
and picklable so it can travel to process-pool and Dask workers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

BUDGETS: tuple[str, ...] = ("smoke", "default", "full")
"""Named training budgets, cheapest first. ``smoke`` is for tests (seconds),
``default`` trains on a 2-core CPU in minutes, ``full`` is sized for one
modern GPU on ``image/mnist-full`` with early stopping on held-out loss (its
cost is not yet measured: no GPU run so far). Besides these, every
multiple of ``default`` is a budget (see :func:`parse_budget`)."""

LADDER_BASE = "default"
"""The budget whose multiples form the compute ladder: ``default-x2`` is
``default`` with :attr:`ModelSpec.ladder_keys` multiplied by 2."""

LADDER_KEYS: tuple[str, ...] = ("steps",)
"""Hyper-parameters a ladder rung multiplies unless a spec declares its own:
the number of training steps (optimiser updates). A key is a name in the
budget row or a dotted path into the row's nested dictionaries
(``"prior.steps"``: the ``steps`` of the row's ``prior``)."""


def nested_value(row: Mapping[str, Any], path: str) -> Any | None:
    """The value at dotted ``path`` in ``row`` (``"prior.steps"`` is
    ``row["prior"]["steps"]``), or ``None`` where a name on the way is
    missing or not a mapping."""
    value: Any = row
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            return None
        value = value[name]
    return value


_LADDER_RE = re.compile(r"^(?P<base>.*)-x(?P<multiple>[^-]*)$")


def parse_budget(budget: str) -> tuple[str, int]:
    """Split a budget name into its named budget and ladder multiple.

    ``"smoke"``, ``"default"`` and ``"full"`` give multiple 1;
    ``"default-xK"`` (``K`` a positive integer written in decimal digits)
    gives ``("default", K)``.

    Raises:
        ValueError: an unknown named budget, a multiple of a budget other
            than :data:`LADDER_BASE`, or a multiple that is not a positive
            integer (``default-x0``, ``default-xfoo``); the message names
            the budget and what is accepted.
    """
    if not isinstance(budget, str):
        raise ValueError(f"a budget is a string, got {budget!r}")
    match = _LADDER_RE.match(budget)
    if match is None:
        if budget not in BUDGETS:
            raise ValueError(
                f"unknown budget {budget!r}; choose one of {list(BUDGETS)} "
                f"or a multiple {LADDER_BASE}-xK (K a positive integer)"
            )
        return budget, 1
    base, multiple = match["base"], match["multiple"]
    if base != LADDER_BASE:
        raise ValueError(
            f"unknown budget {budget!r}: only {LADDER_BASE!r} has multiples "
            f"({LADDER_BASE}-xK, K a positive integer), not {base!r}"
        )
    if not (multiple.isascii() and multiple.isdigit()) or int(multiple) < 1:
        raise ValueError(
            f"budget {budget!r}: the multiple after '-x' must be a positive integer, "
            f"got {multiple!r}"
        )
    return base, int(multiple)


def canonical_budget(budget: str) -> str:
    """The one spelling of ``budget`` that records and config hashes use:
    ``default-x1`` is ``default``, ``default-x04`` is ``default-x4``; named
    budgets are returned unchanged. Raises ``ValueError`` as
    :func:`parse_budget`."""
    base, multiple = parse_budget(budget)
    return base if multiple == 1 else ladder_budget(multiple)


def ladder_budget(multiple: int) -> str:
    """The budget at ``multiple`` times ``default``: ``"default"`` for 1,
    else ``"default-x<multiple>"``.

    Raises:
        ValueError: ``multiple`` is not a positive integer.
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"a ladder multiple must be a positive integer, got {multiple!r}")
    return LADDER_BASE if multiple == 1 else f"{LADDER_BASE}-x{multiple}"


def base_budget(budget: str) -> str:
    """The named budget behind ``budget`` (``default`` for every rung of the
    ladder): tasks' sample and likelihood-example counts are looked up
    under it, so every rung is scored on the same data. Raises
    ``ValueError`` as :func:`parse_budget`."""
    return parse_budget(budget)[0]


CAPABILITIES: tuple[str, ...] = ("sample", "log_likelihood", "reconstruct", "conditional_sample")
"""What a model may answer besides ``fit``: a hook's name, or
``conditional_sample`` for a model whose ``sample`` takes a
:class:`Condition` (class labels and a guidance scale)."""

MODALITIES: tuple[str, ...] = ("image", "toy", "text", "audio")
"""The data modalities a task belongs to; each has its own data format at the
hook boundary (see :mod:`genbench.hookspecs`)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

MAX_NAME_LENGTH = 100
"""Longest plugin, model, family or task name: names become file and
directory names (``<results>/<task>/<model>/...``, previews), and most file
systems refuse a component over 255 bytes."""


def validate_name(name: str, what: str) -> str:
    """Return ``name`` if it is usable as a file name and table key.

    Raises:
        ValueError: naming ``what`` when the name is empty, longer than
            :data:`MAX_NAME_LENGTH` characters, has surrounding or inner
            whitespace, a path separator, or other characters outside
            ``[A-Za-z0-9_.+-]`` (a leading character must be alphanumeric).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{what} name {name[:40]!r}... is {len(name)} characters long; the limit is "
            f"{MAX_NAME_LENGTH} (names become file names)"
        )
    if name != name.strip() or any(c.isspace() for c in name):
        raise ValueError(f"{what} name {name!r} must not contain whitespace")
    if "/" in name or "\\" in name:
        raise ValueError(f"{what} name {name!r} must not contain a path separator")
    if not _NAME_RE.match(name):
        raise ValueError(
            f"{what} name {name!r} may only use letters, digits and '_.+-', "
            "and must start with a letter or digit"
        )
    return name


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Condition:
    """What a class-conditional ``sample`` call asks for.

    Attributes:
        labels: ``torch.int64`` tensor of shape ``(n,)`` on the CPU: the
            class asked for each of the ``n`` samples, in
            ``[0, task.num_classes)``.
        guidance: the classifier-free guidance scale ``w >= 0`` (Ho &
            Salimans, 2022, written so that the guided prediction is
            ``u + w (c - u)`` for the unconditional prediction ``u`` and the
            conditional one ``c``): ``0`` is the unconditional model, ``1``
            the conditional model, above ``1`` guided further towards the
            label.
    """

    labels: Any
    guidance: float

    def __post_init__(self) -> None:
        guidance = float(self.guidance)
        if not math.isfinite(guidance) or guidance < 0:
            raise ValueError(f"guidance must be a finite number >= 0, got {self.guidance!r}")
        object.__setattr__(self, "guidance", guidance)


@dataclass(frozen=True)
class ModelSpec:
    """What a plugin registers: one leaderboard row's model.

    Attributes:
        name: unique model name, e.g. ``"vae"`` or ``"diffusion-ddim50"``;
            validated by :func:`validate_name`.
        family: ``vae``, ``gan``, ``diffusion``, ``flow``, ``autoregressive``,
            ``baseline``, or a new family's name.
        modalities: modalities the model can be fitted on (``image``, ``toy``,
            ``text``, ``audio``).
        capabilities: the subset of :data:`CAPABILITIES` the model answers.
            The harness calls exactly these hooks; a declared hook that no
            plugin answers is a failed run.
        budgets: hyper-parameters per named budget (``smoke``/``default``/
            ``full``); a budget missing here falls back to ``default``. A
            model whose networks differ by modality may key each budget's
            row by modality instead (``{"image": {...}, "toy": {...}}``,
            every key one of ``modalities``); then only the task's
            modality's row reaches config hashes and checkpoint keys, so
            adding a modality never invalidates another's results.
        options: fixed configuration of this variant (e.g. ``{"beta": 4}``
            or ``{"sampler": "ddim", "steps": 50}``); part of the config hash.
        description: one line for tables.
        trains_as: name of the model whose trained checkpoint this variant
            shares (e.g. a DDIM sampler row reusing the DDPM network, or a
            decoding strategy reusing one language model); empty = itself.
        plugin: name of the registering plugin; filled in by the registry.
        plugin_version: version of the registering plugin's distribution;
            filled in by the registry; part of checkpoint keys.
        noise_floor: ``True`` for a row that scores real held-out data
            instead of a model: the reference point of every sample metric
            on its task, which leaderboards label as such (not hashed).
        ladder_keys: the hyper-parameters of the ``default`` row that a
            ladder budget ``default-xK`` multiplies by ``K`` (the training
            compute; :data:`LADDER_KEYS`, the step count, unless declared),
            each a name or a dotted path into nested dictionaries
            (``"prior.steps"`` for a two-stage model's second stage);
            every other hyper-parameter stays as at ``default``. Each must
            be an integer in the row; a key absent from the row is left
            alone. An empty tuple declares a model that does not train
            (nothing a rung could scale: ``--budget-sweep`` runs it at
            ``default`` only). Not hashed itself: the scaled values are.
        default_grid: whether ``genbench run`` includes this row when no
            model is named (``-m``). A row whose cold cost would push the
            default run past its time target says ``False``; it runs when
            named or with ``--all-models``, and its committed records stay
            on the leaderboards (not hashed).
    """

    name: str
    family: str
    modalities: tuple[str, ...]
    capabilities: frozenset[str] = frozenset({"sample"})
    budgets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    trains_as: str = ""
    plugin: str = ""
    plugin_version: str = ""
    noise_floor: bool = False
    ladder_keys: tuple[str, ...] = LADDER_KEYS
    default_grid: bool = True

    def __post_init__(self) -> None:
        validate_name(self.name, "model")
        validate_name(self.family, "family")
        object.__setattr__(self, "modalities", tuple(self.modalities))
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        unknown = self.capabilities - set(CAPABILITIES)
        if unknown:
            raise ValueError(
                f"model {self.name!r} declares unknown capabilities {sorted(unknown)}; "
                f"known: {list(CAPABILITIES)}"
            )
        bad_budgets = set(self.budgets) - set(BUDGETS)
        if bad_budgets:
            raise ValueError(
                f"model {self.name!r} has unknown budgets {sorted(bad_budgets)}; "
                f"known: {list(BUDGETS)}"
            )
        object.__setattr__(
            self, "budgets", _frozen({k: _frozen(v) for k, v in self.budgets.items()})
        )
        object.__setattr__(self, "options", _frozen(self.options))
        if isinstance(self.ladder_keys, str):
            raise ValueError(
                f"model {self.name!r}: ladder_keys must be a sequence of names, "
                f"got the string {self.ladder_keys!r}"
            )
        object.__setattr__(self, "ladder_keys", tuple(self.ladder_keys))
        for key in self.ladder_keys:
            if not isinstance(key, str) or "" in key.split("."):
                raise ValueError(
                    f"model {self.name!r}: a ladder key is a name or a dotted path of "
                    f"names like 'prior.steps', got {key!r}"
                )

    def hyperparameters(self, budget: str, modality: str | None = None) -> dict[str, Any]:
        """Hyper-parameters for ``budget``, falling back to ``default``.

        A ladder budget ``default-xK`` gives the ``default`` row with each
        of :attr:`ladder_keys` multiplied by ``K``. With ``modality``, a row
        keyed by modality (see ``budgets``) gives that modality's
        hyper-parameters; a flat row is returned whole.

        Raises:
            ValueError: an unknown budget (see :func:`parse_budget`), a row
                keyed by modality that has no entry for ``modality``, or a
                ladder key whose ``default`` value is not an integer.
        """
        name, multiple = parse_budget(budget)
        chosen = dict(self.budgets.get(name, self.budgets.get("default", {})))
        if modality is None or not self._keyed_by_modality(chosen):
            if modality is None and self._keyed_by_modality(chosen):
                return {key: self._scaled(dict(row), multiple) for key, row in chosen.items()}
            return self._scaled(chosen, multiple)
        if modality not in chosen:
            raise ValueError(
                f"model {self.name!r} has no {name!r} budget for modality {modality!r}; "
                f"it has {sorted(chosen)}"
            )
        return self._scaled(dict(chosen[modality]), multiple)

    def _scaled(self, row: dict[str, Any], multiple: int) -> dict[str, Any]:
        """``row`` with every ladder key present multiplied by ``multiple``
        (``row`` itself, untouched, for multiple 1); the nested dictionaries
        on a dotted key's path are copied, never changed in place."""
        if multiple == 1:
            return row
        for key in self.ladder_keys:
            value = nested_value(row, key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(
                    f"model {self.name!r}: ladder key {key!r} must be an integer at "
                    f"{LADDER_BASE!r} to be multiplied, got {value!r}"
                )
            *parents, leaf = key.split(".")
            level = row
            for name in parents:
                level[name] = dict(level[name])
                level = level[name]
            level[leaf] = value * multiple
        return row

    def _keyed_by_modality(self, row: Mapping[str, Any]) -> bool:
        return bool(row) and all(
            key in self.modalities and isinstance(value, Mapping) for key, value in row.items()
        )

    # MappingProxyType does not pickle; travel as plain dicts.
    def __reduce__(self):
        fields = {
            "name": self.name,
            "family": self.family,
            "modalities": self.modalities,
            "capabilities": set(self.capabilities),
            "budgets": {k: dict(v) for k, v in self.budgets.items()},
            "options": dict(self.options),
            "description": self.description,
            "trains_as": self.trains_as,
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
            "noise_floor": self.noise_floor,
            "ladder_keys": self.ladder_keys,
            "default_grid": self.default_grid,
        }
        return (_rebuild_spec, (fields,))


def _rebuild_spec(fields: dict[str, Any]) -> ModelSpec:
    return ModelSpec(**fields)


@dataclass(frozen=True)
class LogLikelihood:
    """Per-example log-probabilities returned by the ``log_likelihood`` hook.

    Attributes:
        nats: shape ``(N,)``, float64; ``log p(x_i)`` in **nats** of example
            ``i`` in the task's discrete data space (8-bit pixels, mu-law
            codes, character/byte tokens) or, for continuous tasks (toy), the
            log-density.
        exact: ``True`` when ``nats`` is the exact log-probability; ``False``
            when it is a lower bound (ELBO, IWAE, diffusion VLB, dequantised
            flow).
        method: how it was computed, e.g. ``"exact"``, ``"iwae"``,
            ``"vlb"``, ``"dequantised"``.
        details: extra facts to record, e.g. ``{"importance_samples": 5000}``.
    """

    nats: np.ndarray
    exact: bool
    method: str = "exact"
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nats", np.asarray(self.nats, dtype=np.float64))
        object.__setattr__(self, "details", dict(self.details))
