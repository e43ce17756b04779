"""One run, stage by stage: fit, sample, validate, extract features, score
samples, then the guidance sweep, likelihood and reconstruction where the
model declares them.
Every plugin failure is contained in the run's record, a device running out
of memory included (the cell fails, its memory is released, the grid goes
on)."""

from __future__ import annotations

import contextlib
import time
import traceback
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pluggy
import torch

from genbench.checkpoints import Checkpoint
from genbench.defaults import (
    GUIDANCE_SCALES,
    MODEL_INFO_TIMEOUT_S,
    PREVIEW_SAMPLES,
    STRIP_SAMPLES,
)
from genbench.devices import is_out_of_memory, out_of_memory_reason, release_memory
from genbench.features.cache import FeatureCache
from genbench.metrics.anomaly import (
    ANOMALY_PREFIX,
    anomaly_auroc,
    anomaly_auroc_interval,
    per_dimension,
)
from genbench.metrics.engine import score_samples
from genbench.metrics.info import METRICS
from genbench.metrics.likelihood import likelihood_intervals, likelihood_metrics
from genbench.metrics.reconstruction import reconstruction_metrics
from genbench.metrics.uncertainty import Interval
from genbench.records.config import RunConfig
from genbench.records.provenance import collect_provenance
from genbench.records.record import (
    ExtractorInfo,
    Failure,
    GuidancePoint,
    LikelihoodInfo,
    RunRecord,
    TaskInfo,
)
from genbench.registry import Registry
from genbench.run.grid import Cell
from genbench.run.guidance import guidance_point
from genbench.run.hooks import HookFailure, call_hook
from genbench.run.references import prepared_reference
from genbench.run.settings import CellOutcome, RunSettings, StripSamples
from genbench.run.validation import validate_log_likelihood
from genbench.specs import Condition
from genbench.tasks.base import Task
from genbench.tasks.validation import SampleValidationError


def run_cell(
    cell: Cell,
    config: RunConfig,
    settings: RunSettings,
    registry: Registry,
    *,
    retrain: bool = False,
    device: str | None = None,
) -> CellOutcome:
    """Run one cell on ``device`` (a resolved device string such as ``cpu``
    or ``cuda:0``; ``None``: ``settings.device``) and describe it as a
    record; never raises for a plugin's fault. A failure becomes ``status:
    failed`` with the plugin, hook, reason and the plugin's part of the
    traceback; the partial timings and metrics gathered so far are kept. A
    device out of memory is such a failure, its reason naming the device
    and what else this machine has. A plugin whose ``fit`` does not take a
    ``device`` runs on the CPU, and its record says so. ``retrain`` hands
    ``fit`` an empty checkpoint slot (the cached one is overwritten)."""
    started = datetime.now(timezone.utc)
    spec = registry.model(cell.model)
    task = registry.task(cell.task)
    where = torch.device(device or settings.device)
    if not takes_device(registry.pm, spec.plugin):
        where = torch.device("cpu")
    run = _CellRun(cell, config, settings, registry, spec.plugin, where)
    run.retrain = retrain
    preview, failure = None, None
    try:
        preview = run.execute(task)
    except HookFailure as exc:
        failure = exc.as_failure()
        if exc.__cause__ is not None and is_out_of_memory(exc.__cause__):
            failure = replace(failure, reason=out_of_memory_reason(exc.__cause__, where))
    except Exception as exc:  # a genbench bug must not stop the grid either
        failure = Failure(
            plugin="genbench",
            hook=run.stage,
            reason=f"{type(exc).__name__}: {exc}",
            error_type=type(exc).__name__,
            traceback=traceback.format_exc(limit=8),
        )
        if is_out_of_memory(exc):
            failure = replace(failure, reason=out_of_memory_reason(exc, where))
    if failure is not None:
        del run.model  # what a failed cell holds on the device goes before the next cell
        release_memory(where)
    record = RunRecord(
        config=config,
        config_hash=config.hash,
        task_info=TaskInfo(modality=task.modality, primary_metric=task.primary_metric),
        status="ok" if failure is None else "failed",
        failure=failure,
        metrics=run.metrics,
        intervals=run.intervals,
        likelihood=run.likelihood,
        counts=run.counts,
        feature_extractor=run.extractor,
        model_info=run.info,
        timings={k: round(v, 4) for k, v in run.timings.items()},
        provenance=collect_provenance(
            started, datetime.now(timezone.utc), run.checkpoint_digest, where
        ),
        metric_settings=run.metric_settings,
        guidance=run.guidance,
    )
    strips = run.strips if failure is None else {}
    return CellOutcome(record=record, preview=preview, strips=strips)


def takes_device(pm: pluggy.PluginManager, plugin: str) -> bool:
    """Whether ``plugin``'s ``fit`` declares a ``device`` argument (with or
    without a default); one that does not runs on the CPU."""
    return any(
        "device" in (*impl.argnames, *impl.kwargnames)
        for impl in pm.hook.fit.get_hookimpls()
        if impl.plugin_name == plugin
    )


class _CellRun:
    """The stages of one cell; attributes accumulate what the record reports."""

    def __init__(
        self,
        cell: Cell,
        config: RunConfig,
        settings: RunSettings,
        registry: Registry,
        plugin: str,
        device: torch.device,
    ) -> None:
        self.cell, self.config, self.settings = cell, config, settings
        self.registry, self.plugin, self.device = registry, plugin, device
        self.model: Any = None
        self.pm = registry.pm
        self.stage = "setup"
        self.metrics: dict[str, float] = {}
        self.intervals: dict[str, Interval] = {}
        self.likelihood: LikelihoodInfo | None = None
        self.counts: dict[str, int] = {}
        self.extractor: ExtractorInfo | None = None
        self.info: dict[str, float] = {}
        self.timings: dict[str, float] = {}
        self.checkpoint_digest: str | None = None
        self.metric_settings: dict[str, dict[str, Any]] = {}
        self.strips: dict[str, StripSamples] = {}
        self.guidance: tuple[GuidancePoint, ...] = ()
        self.retrain = False
        self.features = FeatureCache(Path(settings.cache_dir) / "features")

    def hook(self, name: str, timing: str | None = None, **kwargs: Any) -> Any:
        """Call plugin hook ``name``; its seconds go to ``timings[timing]``
        (default ``<name>_s``)."""
        self.stage = name
        start = time.perf_counter()
        try:
            return call_hook(
                self.pm, name, plugin=self.plugin, timeout=self.settings.hook_timeout, **kwargs
            )
        finally:
            if self.device.type == "cuda":  # a hook's queued kernels count in its time
                with contextlib.suppress(RuntimeError):  # a broken device: the hook's error stands
                    torch.cuda.synchronize(self.device)
            self.timings[timing or f"{name}_s"] = time.perf_counter() - start

    def fail(self, hook: str, exc: Exception) -> HookFailure:
        return HookFailure(self.plugin, hook, str(exc), type(exc).__name__)

    def checkpoint_key(self) -> dict[str, Any]:
        """The checkpoint's key: the run's training key plus the hash of the
        plugin's source files, so an edited plugin retrains even when its
        version (part of the config hash, kept stable for committed
        records) did not change. A network trained on an accelerator is
        keyed by the device kind too, so a CPU run never loads it (CPU keys
        are unchanged, and CPU records stay bit-identical)."""
        key = {
            **self.config.training_key(),
            "plugin_source": self.registry.plugin_source(self.plugin),
        }
        if self.device.type != "cpu":
            key["device"] = self.device.type
        return key

    def execute(self, task: Task) -> Any:
        spec = self.registry.model(self.cell.model)
        budget, seeds, n = self.cell.budget, self.config.derived_seeds, self.config.n_samples

        checkpoint = Checkpoint(
            Path(self.settings.cache_dir) / "checkpoints",
            self.checkpoint_key(),
            ignore_cached=self.retrain,
        )
        self.checkpoint_digest = checkpoint.digest
        cached = checkpoint.path.exists() and not self.retrain
        model = self.model = self.hook(
            "fit",
            spec=spec,
            task=task,
            budget=budget,
            seed=seeds.fit,
            checkpoint=checkpoint,
            device=self.device,
        )
        if not cached:
            checkpoint.record_training_seconds(self.timings["fit_s"])
        self.metrics["train_seconds"] = checkpoint.training_seconds() or self.timings["fit_s"]
        self.info = self.model_info(model)
        self.metrics.update({k: v for k, v in self.info.items() if k in METRICS})

        samples = self.samples(task, model, seeds.sample, None)
        self.metrics["samples_per_second"] = n / max(self.timings["sample_s"], 1e-9)
        self.metrics["sample_seconds"] = self.timings["sample_s"]
        self.counts["n_generated"] = n

        self.stage = "metrics"
        self.evaluate_samples(task, samples)
        if "conditional_sample" in spec.capabilities and task.num_classes is not None:
            self.evaluate_guidance(task, model)
        if "log_likelihood" in spec.capabilities:
            self.evaluate_likelihood(task, model)
        if "reconstruct" in spec.capabilities:
            self.evaluate_reconstruction(task, model)
        return samples[:PREVIEW_SAMPLES]

    def samples(
        self,
        task: Task,
        model: Any,
        seed: int,
        condition: Condition | None,
        timing: str = "sample_s",
    ) -> Any:
        """``n_samples`` validated samples from the ``sample`` hook (plain
        with ``condition`` None); a bad output fails the run naming the
        plugin and the hook. Its seconds go to ``timings[timing]``."""
        n = self.config.n_samples
        samples = self.hook("sample", timing, model=model, n=n, seed=seed, condition=condition)
        self.stage = "sample"
        try:
            return task.validate_samples(samples, n)
        except SampleValidationError as exc:
            raise self.fail("sample", exc) from exc

    def evaluate_guidance(self, task: Task, model: Any) -> None:
        """The guidance sweep: at each scale of
        :data:`~genbench.defaults.GUIDANCE_SCALES`, ``n_samples``
        class-conditional samples for :meth:`Task.guidance_labels` with the
        run's sample seed, validated like the plain samples and scored by
        :func:`~genbench.run.guidance.guidance_point`. Its seconds, sampling
        and scoring of every scale together, in ``guidance_s``."""
        start = time.perf_counter()
        labels = task.guidance_labels(self.config.n_samples)
        extractor = task.feature_extractor().to(self.device)
        reference = prepared_reference(task, self.cell.eval_budget, extractor, self.features)
        seed, points = self.config.derived_seeds.sample, []
        for scale in GUIDANCE_SCALES:
            condition = Condition(labels.clone(), scale)  # a plugin may not alter the next call's
            samples = self.samples(task, model, seed, condition, timing="guidance_s")
            self.stage = "metrics"
            points.append(
                guidance_point(task, extractor, reference, samples, labels, scale, self.device)
            )
        self.guidance = tuple(points)
        self.timings["guidance_s"] = time.perf_counter() - start

    def model_info(self, model: Any) -> dict[str, float]:
        try:
            info = call_hook(
                self.pm, "model_info", plugin=self.plugin, timeout=MODEL_INFO_TIMEOUT_S, model=model
            )
        except HookFailure as exc:
            if exc.error_type != "NotImplementedError":
                raise
            info = {}
        if "parameters" not in info and isinstance(model, torch.nn.Module):
            info = {**info, "parameters": sum(p.numel() for p in model.parameters())}
        return {k: float(v) for k, v in info.items()}

    def evaluate_samples(self, task: Task, samples: Any) -> None:
        start = time.perf_counter()
        extractor = task.feature_extractor().to(self.device)
        reference = prepared_reference(task, self.cell.eval_budget, extractor, self.features)
        generated, probabilities = extractor.extract(samples)
        self.timings["features_s"] = time.perf_counter() - start
        start = time.perf_counter()
        scores = score_samples(
            reference,
            generated,
            generated_probs=probabilities,
            device=None if self.device.type == "cpu" else self.device,  # CPU: numpy, as always
        )
        renamed = {"fid": task.frechet_metric, "fid_inf": f"{task.frechet_metric}_inf"}
        self.metrics.update({renamed.get(k, k): v for k, v in scores.values.items()})
        self.intervals.update({renamed.get(k, k): v for k, v in scores.intervals.items()})
        self.metric_settings = scores.settings
        if "realism" in scores.per_sample:
            self.strips = realism_strips(samples, scores.per_sample["realism"])
        self.metrics.update(task.extra_metrics(samples))
        self.intervals.update(task.extra_metric_intervals(samples))
        self.timings["metrics_s"] = time.perf_counter() - start
        real = task.reference(self.cell.eval_budget)
        self.counts.update({"n_real": len(real), "n_train": len(task.training_samples())})
        if "kid_subset_size" in self.metrics:
            self.counts["kid_subset_size"] = int(self.metrics.pop("kid_subset_size"))
        self.extractor = ExtractorInfo(
            name=extractor.name, dim=int(extractor.dim), weights_sha256=extractor.weights_sha256()
        )

    def evaluate_likelihood(self, task: Task, model: Any) -> None:
        x = task.likelihood_batch(self.cell.eval_budget)
        discrete = task.discrete
        result = self.hook("log_likelihood", model=model, x=x)
        try:
            result = validate_log_likelihood(result, len(x), discrete=discrete)
        except SampleValidationError as exc:
            raise self.fail("log_likelihood", exc) from exc
        self.stage = "metrics"
        counts = task.dimension_counts(x)
        self.metrics.update(likelihood_metrics(result.nats, counts, discrete=discrete))
        self.intervals.update(likelihood_intervals(result.nats, counts, discrete=discrete))
        self.likelihood = LikelihoodInfo(
            exact=bool(result.exact), method=result.method, details=dict(result.details)
        )
        self.counts["likelihood_examples"] = len(x)
        self.evaluate_anomaly(task, model, anomaly_scores(result.nats, counts))

    def evaluate_anomaly(self, task: Task, model: Any, inlier: np.ndarray) -> None:
        """Score each of the task's shifted sets with ``log_likelihood`` (the
        same validation; its seconds, all sets together, in ``anomaly_s``)
        and record ``anomaly_auroc_<shift>`` against the test set's scores
        ``inlier`` (log-likelihood per dimension), with its interval."""
        shifted_sets = task.shifted_likelihood_batches(self.cell.eval_budget)
        seconds = 0.0
        for shift, x in shifted_sets.items():
            name = f"{ANOMALY_PREFIX}{shift}"
            if name not in METRICS:
                raise ValueError(
                    f"task {task.name!r} declares shifted set {shift!r} but no metric {name!r} "
                    "is registered; register it with genbench.metrics.register_metric"
                )
            result = self.hook("log_likelihood", timing="anomaly_s", model=model, x=x)
            seconds += self.timings["anomaly_s"]
            try:
                result = validate_log_likelihood(result, len(x), discrete=task.discrete)
            except SampleValidationError as exc:
                raise self.fail("log_likelihood", exc) from exc
            self.stage = "metrics"
            scores = anomaly_scores(result.nats, task.dimension_counts(x))
            self.metrics[name] = anomaly_auroc(inlier, scores)
            self.intervals[name] = anomaly_auroc_interval(inlier, scores)
            self.counts["anomaly_examples"] = len(x)
        if shifted_sets:
            self.timings["anomaly_s"] = seconds

    def evaluate_reconstruction(self, task: Task, model: Any) -> None:
        x = task.reconstruction_batch(self.cell.eval_budget)
        x_hat = self.hook("reconstruct", model=model, x=x)
        try:
            x_hat = task.validate_samples(x_hat, len(x))
        except SampleValidationError as exc:
            raise self.fail("reconstruct", exc) from exc
        self.stage = "metrics"
        image_levels = task.levels if task.modality == "image" else None  # audio: waveform MSE
        self.metrics.update(
            reconstruction_metrics(_as_array(x), _as_array(x_hat), levels=image_levels)
        )
        self.counts["reconstruction_examples"] = len(x)


def anomaly_scores(nats: np.ndarray, counts: dict[str, np.ndarray]) -> np.ndarray:
    """The anomaly score of each example: log-likelihood per dimension, by
    the task's ``dim`` count, or per character on text (whose
    :meth:`~genbench.tasks.base.Task.dimension_counts` has no ``dim``)."""
    return per_dimension(nats, counts["dim"] if "dim" in counts else counts["char"])


def _as_array(x: Any) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def realism_strips(samples: Any, realism: np.ndarray) -> dict[str, StripSamples]:
    """The :data:`~genbench.defaults.STRIP_SAMPLES` most and least realistic
    of ``samples`` by their ``realism`` scores (ties by sample order)."""
    order = np.argsort(-realism, kind="stable")
    count = min(STRIP_SAMPLES, len(order))
    picks = {
        "most_realistic": order[:count],
        "least_realistic": np.argsort(realism, kind="stable")[:count],
    }
    return {
        name: StripSamples(
            samples=_take(samples, rows),
            score="realism",
            values=tuple(float(realism[i]) for i in rows),
        )
        for name, rows in picks.items()
    }


def _take(samples: Any, rows: np.ndarray) -> Any:
    """``samples[rows]`` for a tensor or array, else a list."""
    if isinstance(samples, (torch.Tensor, np.ndarray)):
        return samples[torch.from_numpy(rows)] if torch.is_tensor(samples) else samples[rows]
    return [samples[int(i)] for i in rows]
