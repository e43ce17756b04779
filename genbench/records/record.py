"""The run record: one JSON document per (task, model, budget, seed).

:class:`RunRecord` is the only place that spells the record's keys. A
record is built by the harness on a worker, written by the driver (see
:mod:`genbench.records.store`) and read by the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from genbench.metrics.uncertainty import Interval
from genbench.records.config import RunConfig

SCHEMA_VERSION = 2
"""Version of the record layout; a record of another version is not read.
Version 2 added ``intervals``."""


class RecordError(ValueError):
    """A record that is not a valid run record; the message says why."""


@dataclass(frozen=True)
class Failure:
    """Why a run failed.

    Attributes:
        plugin: the plugin at fault (``genbench`` for an internal error).
        hook: the hook (``fit``, ``sample``...) or harness stage.
        reason: one human-readable line.
        error_type: the exception's class name, if any.
        traceback: the formatted traceback, where one was kept.
    """

    plugin: str
    hook: str
    reason: str
    error_type: str = ""
    traceback: str = ""

    def to_dict(self) -> dict[str, str]:
        data = {
            "plugin": self.plugin,
            "hook": self.hook,
            "reason": self.reason,
            "error_type": self.error_type,
        }
        if self.traceback:
            data["traceback"] = self.traceback
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        return cls(
            plugin=data["plugin"],
            hook=data["hook"],
            reason=data["reason"],
            error_type=data.get("error_type", ""),
            traceback=data.get("traceback", ""),
        )

    def summary(self) -> str:
        """``plugin/hook: reason``, as tables show it."""
        return f"{self.plugin}/{self.hook}: {self.reason}"


@dataclass(frozen=True)
class LikelihoodInfo:
    """How a run's log-likelihoods were computed.

    Attributes:
        exact: ``False`` for a lower bound (ELBO, IWAE, VLB, dequantised).
        method: e.g. ``"exact"``, ``"iwae"``, ``"vlb"``.
        details: facts such as the number of importance samples.
    """

    exact: bool
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"exact": self.exact, "method": self.method, "details": dict(self.details)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LikelihoodInfo:
        return cls(exact=bool(data["exact"]), method=data["method"], details=data["details"])


@dataclass(frozen=True)
class ExtractorInfo:
    """The feature extractor behind a run's sample metrics: its name,
    feature dimension and the SHA-256 of its weights."""

    name: str
    dim: int
    weights_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "weights_sha256": self.weights_sha256}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractorInfo:
        return cls(name=data["name"], dim=int(data["dim"]), weights_sha256=data["weights_sha256"])


@dataclass(frozen=True)
class SampleStrip:
    """Generated samples picked by a per-sample score, saved beside the record.

    Attributes:
        file: the strip's file name beside the record (PNG for images and
            audio, with WAV clips ``<stem>-<i>.wav`` beside it; TXT for text,
            one JSON string a line).
        score: the per-sample score that picked them (e.g. ``realism``).
        values: that score for each sample in the strip, in strip order.
    """

    file: str
    score: str
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "score": self.score, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampleStrip:
        return cls(
            file=data["file"],
            score=data["score"],
            values=tuple(float(v) for v in data["values"]),
        )


@dataclass(frozen=True)
class GuidancePoint:
    """The class-conditional samples of one guidance scale, scored.

    Attributes:
        guidance: the guidance scale ``w`` the samples were drawn at.
        metrics: metric name → value (the task's Fréchet distance,
            ``precision``, ``recall``, ``class_accuracy``).
        intervals: metric name → its 95 % interval within the run.
    """

    guidance: float
    metrics: dict[str, float]
    intervals: dict[str, Interval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "guidance": self.guidance,
            "metrics": dict(self.metrics),
            "intervals": {name: interval.to_dict() for name, interval in self.intervals.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuidancePoint:
        return cls(
            guidance=float(data["guidance"]),
            metrics={name: float(value) for name, value in data["metrics"].items()},
            intervals={
                name: Interval.from_dict(value) for name, value in data["intervals"].items()
            },
        )


@dataclass(frozen=True)
class TaskInfo:
    """Facts about the task that the reports need without loading it."""

    modality: str
    primary_metric: str

    def to_dict(self) -> dict[str, str]:
        return {"modality": self.modality, "primary_metric": self.primary_metric}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskInfo:
        return cls(modality=data["modality"], primary_metric=data["primary_metric"])


@dataclass(frozen=True)
class Provenance:
    """Where a result came from.

    Attributes:
        genbench_version: the installed genbench.
        git_commit: commits of genbench's source and of the working
            directory (``-dirty`` when modified), ``None`` outside git.
        libraries: versions of the libraries that can change a number.
        host: platform, machine, CPU count, torch threads.
        started_at, finished_at: ISO 8601 times in UTC.
        checkpoint: SHA-256 key of the trained network's checkpoint.
        device: where the run computed, ``{"kind", "name", "index"}`` (see
            :class:`genbench.devices.DeviceInfo`); ``None`` in records
            written before genbench recorded it (they ran on the CPU).
    """

    genbench_version: str
    git_commit: dict[str, str | None]
    libraries: dict[str, str]
    host: dict[str, Any]
    started_at: str
    finished_at: str
    checkpoint: str | None
    device: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.device is None else {"device": dict(self.device)}
        return {
            "genbench_version": self.genbench_version,
            "git_commit": dict(self.git_commit),
            "libraries": dict(self.libraries),
            "host": dict(self.host),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "checkpoint": self.checkpoint,
            **extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        fields = [name for name in cls.__dataclass_fields__ if name != "device"]
        return cls(**{name: data[name] for name in fields}, device=data.get("device"))

    @property
    def device_kind(self) -> str:
        """``cpu``, ``cuda`` or ``mps`` (``cpu`` for records that predate the field)."""
        return "cpu" if self.device is None else str(self.device["kind"])

    @property
    def device_label(self) -> str:
        """The device as one phrase, e.g. ``cuda (NVIDIA H200)``."""
        if self.device is None:
            return "cpu (not recorded)"
        return f"{self.device['kind']} ({self.device['name']})"


COUNT_KEYS: tuple[str, ...] = (
    "n_generated",
    "n_real",
    "n_train",
    "kid_subset_size",
    "likelihood_examples",
    "reconstruction_examples",
    "anomaly_examples",
)
"""Sample counts a record may hold (``counts``): generated samples, real
reference samples, training examples, KID subset size, examples scored by
``log_likelihood`` and by ``reconstruct``, and shifted examples per
shifted set scored for the likelihood anomaly AUROC."""


@dataclass(frozen=True)
class RunRecord:
    """One run's result.

    Attributes:
        config: what identifies the run; ``config_hash`` is its hash.
        task_info: the task's modality and ranking metric.
        status: ``"ok"`` or ``"failed"``; ``failure`` says why.
        metrics: registered metric name → value (``None`` for a value JSON
            cannot hold).
        intervals: metric name → its 95 % interval and standard error
            within this run (bootstrap over the generated samples, or over
            the test examples for likelihoods), with the method.
        likelihood: how likelihoods were computed (``None`` without them).
        counts: sample counts, keys from :data:`COUNT_KEYS`.
        feature_extractor: the extractor behind the sample metrics.
        model_info: facts the model reports (parameters, evaluations).
        timings: seconds per stage (``fit_s``, ``sample_s``...).
        provenance: versions, commits, host and times.
        preview: file name of the sample preview beside the record.
        strips: ``most_realistic`` / ``least_realistic`` sample strips
            beside the record.
        metric_settings: metric name → the kernel, bandwidth and test
            settings behind its value (e.g. ``mmd_rbf``'s σ).
        guidance: the guidance sweep of a class-conditional model, one
            point per scale in the order run (empty otherwise; the stored
            form then has no ``guidance`` key, as before the field existed).
        schema_version: :data:`SCHEMA_VERSION`.
    """

    config: RunConfig
    config_hash: str
    task_info: TaskInfo
    status: str
    provenance: Provenance
    failure: Failure | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)
    likelihood: LikelihoodInfo | None = None
    counts: dict[str, int] = field(default_factory=dict)
    feature_extractor: ExtractorInfo | None = None
    model_info: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    preview: str | None = None
    strips: dict[str, SampleStrip] = field(default_factory=dict)
    metric_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    guidance: tuple[GuidancePoint, ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.status == "ok"

    def with_preview(self, name: str) -> RunRecord:
        """This record naming ``name`` as its sample preview."""
        return replace(self, preview=name)

    def with_strips(self, strips: dict[str, SampleStrip]) -> RunRecord:
        """This record naming ``strips`` as its sample strips."""
        return replace(self, strips=dict(strips))

    def to_dict(self) -> dict[str, Any]:
        """The stored (JSON) form."""
        data = {
            "schema_version": self.schema_version,
            "config_hash": self.config_hash,
            "config": self.config.to_dict(),
            "task_info": self.task_info.to_dict(),
            "status": self.status,
            "failure": self.failure.to_dict() if self.failure else None,
            "metrics": dict(self.metrics),
            "intervals": {name: interval.to_dict() for name, interval in self.intervals.items()},
            "likelihood": self.likelihood.to_dict() if self.likelihood else {},
            "counts": dict(self.counts),
            "feature_extractor": (
                self.feature_extractor.to_dict() if self.feature_extractor else {}
            ),
            "model_info": dict(self.model_info),
            "timings": dict(self.timings),
            "provenance": self.provenance.to_dict(),
        }
        if self.preview is not None:
            data["preview"] = self.preview
        if self.strips:
            data["strips"] = {name: strip.to_dict() for name, strip in self.strips.items()}
        if self.metric_settings:
            data["metric_settings"] = {k: dict(v) for k, v in self.metric_settings.items()}
        if self.guidance:
            data["guidance"] = [point.to_dict() for point in self.guidance]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """Parse and validate a stored record.

        Raises:
            RecordError: not a JSON object, another schema version, a
                missing or malformed section, or a ``config_hash`` that does
                not match the configuration.
        """
        if not isinstance(data, dict) or not data:
            raise RecordError("not a run record (expected a non-empty JSON object)")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(f"schema version {version!r}, expected {SCHEMA_VERSION}")
        try:
            record = cls(
                schema_version=version,
                config=RunConfig.from_dict(data["config"]),
                config_hash=data["config_hash"],
                task_info=TaskInfo.from_dict(data["task_info"]),
                status=data["status"],
                failure=Failure.from_dict(data["failure"]) if data.get("failure") else None,
                metrics=dict(data["metrics"]),
                intervals={
                    name: Interval.from_dict(value) for name, value in data["intervals"].items()
                },
                likelihood=(
                    LikelihoodInfo.from_dict(data["likelihood"]) if data["likelihood"] else None
                ),
                counts={key: int(value) for key, value in data["counts"].items()},
                feature_extractor=(
                    ExtractorInfo.from_dict(data["feature_extractor"])
                    if data["feature_extractor"]
                    else None
                ),
                model_info=dict(data["model_info"]),
                timings=dict(data["timings"]),
                provenance=Provenance.from_dict(data["provenance"]),
                preview=data.get("preview"),
                strips={
                    name: SampleStrip.from_dict(value)
                    for name, value in data.get("strips", {}).items()
                },
                metric_settings={k: dict(v) for k, v in data.get("metric_settings", {}).items()},
                guidance=tuple(GuidancePoint.from_dict(p) for p in data.get("guidance", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RecordError(f"malformed record: {type(exc).__name__}: {exc}") from exc
        if record.status not in ("ok", "failed"):
            raise RecordError(f"unknown status {record.status!r}")
        if record.config.hash != record.config_hash:
            raise RecordError("config_hash does not match the stored configuration")
        return record
