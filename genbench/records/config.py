"""The typed run configuration: what identifies one run's result.

:class:`RunConfig` is the only place that spells the configuration's keys.
Its :meth:`~RunConfig.to_dict` form is stored in every record and hashed
into the record's ``config_hash``: two runs with the same hash are
interchangeable, so a re-run skips them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from genbench.records.jsonio import to_json
from genbench.specs import ModelSpec

PRESENTATION_KEYS: tuple[str, ...] = ("description", "role")
"""Configuration entries that only label a run (kept in the record, left out
of its hash): rewording a model's description must not invalidate results."""

NOISE_FLOOR = "noise-floor"
"""The ``role`` of a row that scores real held-out data: the reference point
of every sample metric on its task (see :attr:`ModelSpec.noise_floor`)."""


@dataclass(frozen=True)
class ModelConfig:
    """The model part of a run's configuration.

    Attributes:
        name, family, plugin, plugin_version: as on the :class:`ModelSpec`.
        capabilities: sorted capability names.
        options: the variant's fixed configuration.
        trains_as: the name of the trained network (the model's own name
            when it trains its own).
    """

    name: str
    family: str
    plugin: str
    plugin_version: str
    capabilities: tuple[str, ...]
    options: dict[str, Any]
    trains_as: str

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ModelConfig:
        """The configuration of a registered spec."""
        return cls(
            name=spec.name,
            family=spec.family,
            plugin=spec.plugin,
            plugin_version=spec.plugin_version,
            capabilities=tuple(sorted(spec.capabilities)),
            options=dict(spec.options),
            trains_as=spec.trains_as or spec.name,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
            "capabilities": list(self.capabilities),
            "options": dict(self.options),
            "trains_as": self.trains_as,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(
            name=data["name"],
            family=data["family"],
            plugin=data["plugin"],
            plugin_version=data["plugin_version"],
            capabilities=tuple(data["capabilities"]),
            options=dict(data["options"]),
            trains_as=data["trains_as"],
        )


@dataclass(frozen=True)
class DerivedSeeds:
    """Per-purpose seeds of one run, derived from its base seed (see
    :func:`genbench.hashing.derive_seed`).

    Attributes:
        base: the grid's seed index (0, 1, 2, ...).
        fit: handed to ``fit``; shared by the variants that train as one
            network, so they share its checkpoint.
        sample: handed to ``sample``.
    """

    base: int
    fit: int
    sample: int

    def to_dict(self) -> dict[str, int]:
        return {"base": self.base, "fit": self.fit, "sample": self.sample}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DerivedSeeds:
        return cls(base=int(data["base"]), fit=int(data["fit"]), sample=int(data["sample"]))


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result.

    Attributes:
        model: the model's configuration.
        hyperparameters: the model's hyper-parameters at ``budget`` for the
            task's modality.
        task: the task's name; ``task_fingerprint`` the SHA-256 of its data.
        budget: ``smoke``, ``default`` or ``full``.
        seed: the grid's seed index; ``derived_seeds`` the seeds derived
            from it (stored under the key ``seeds``).
        n_samples: generated samples scored.
        description: the model's one-line description (not hashed).
        role: ``"noise-floor"`` for a row that scores held-out real data,
            else empty (not hashed; left out of the stored form when empty).
    """

    model: ModelConfig
    hyperparameters: dict[str, Any]
    task: str
    task_fingerprint: str
    budget: str
    seed: int
    n_samples: int
    derived_seeds: DerivedSeeds
    description: str = ""
    role: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The stored (JSON) form."""
        data = {
            "model": self.model.to_dict(),
            "description": self.description,
            "hyperparameters": dict(self.hyperparameters),
            "task": self.task,
            "task_fingerprint": self.task_fingerprint,
            "budget": self.budget,
            "seed": self.seed,
            "n_samples": self.n_samples,
            "seeds": self.derived_seeds.to_dict(),
        }
        if self.role:
            data["role"] = self.role
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on
        a malformed configuration."""
        return cls(
            model=ModelConfig.from_dict(data["model"]),
            description=data.get("description", ""),
            hyperparameters=dict(data["hyperparameters"]),
            task=data["task"],
            task_fingerprint=data["task_fingerprint"],
            budget=data["budget"],
            seed=int(data["seed"]),
            n_samples=int(data["n_samples"]),
            derived_seeds=DerivedSeeds.from_dict(data["seeds"]),
            role=data.get("role", ""),
        )

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` without the
        :data:`PRESENTATION_KEYS`: the record's ``config_hash``."""
        return config_hash(self.to_dict())

    @property
    def is_noise_floor(self) -> bool:
        """True for a row that scores held-out real data."""
        return self.role == NOISE_FLOOR

    def training_key(self) -> dict[str, Any]:
        """What identifies the trained network this run needs: the
        checkpoint's key. Runs with the same key share one checkpoint (a DDIM
        row and its DDPM row, the decoding rows of one language model)."""
        return {
            "plugin": self.model.plugin,
            "plugin_version": self.model.plugin_version,
            "network": self.model.trains_as,
            "hyperparameters": dict(self.hyperparameters),
            "task_fingerprint": self.task_fingerprint,
            "seed": self.derived_seeds.fit,
            "budget": self.budget,
        }


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a stored configuration, without the
    :data:`PRESENTATION_KEYS`."""
    hashed = {key: value for key, value in config.items() if key not in PRESENTATION_KEYS}
    return hashlib.sha256(to_json(hashed).encode()).hexdigest()
