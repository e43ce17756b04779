"""The conformance kit: does a model keep genbench's plugin contract?

Per task (the model's modalities' small tasks and the kit's enumerable
tasks, see :mod:`genbench.testing.tasks`) it checks, calling only the
plugin that owns the model, as the harness does:

* ``fit`` returns a model; ``sample`` returns exactly ``n`` samples in the
  task's format (the harness's own validation: type, shape, dtype, levels,
  finiteness);
* ``sample`` is reproducible: identical for the same seed, different for
  different seeds;
* a model declaring ``conditional_sample``, on a task with classes: a
  ``sample`` call with a :class:`~genbench.specs.Condition` returns one
  sample per asked label in the task's format at guidance ``w = 0`` and
  ``w = 1``, identical for the same seed and condition;
* the checkpoint round-trips: a second ``fit`` on the same checkpoint slot
  gives a model whose samples are identical;
* the model crosses a process boundary: a pickle round trip gives the same
  samples;
* ``log_likelihood`` returns one finite log-probability per example (at
  most 0 for discrete data); ``reconstruct`` returns its input's format;
  ``model_info`` returns finite numbers;
* the likelihood audit: on an enumerable task, ``exp(log_likelihood)``
  summed over the whole domain is 1 (within 1e-6) for ``exact=True`` and at
  most 1 for a bound; on the continuous kit task, the density's integral
  over a grid is at most 1 + 0.02. A bound that exposes its importance
  samples (a ``with_importance_samples(k)`` method on the fitted model,
  returning a copy) must not decrease as ``k`` grows.

Every failure names the hook and says what was wrong. A kit task that the
model cannot fit (e.g. it needs 28 x 28 images) is "not applicable", with
the reason, not a failure.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import pickle
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from genbench.checkpoints import Checkpoint
from genbench.hashing import content_hash
from genbench.plugins import get_plugin_manager, register_plugin
from genbench.registry import Registry
from genbench.run.hooks import HookFailure, call_hook
from genbench.run.validation import validate_log_likelihood
from genbench.specs import Condition, LogLikelihood, ModelSpec
from genbench.tasks.base import Task
from genbench.tasks.validation import SampleValidationError
from genbench.testing import tasks as kit_tasks
from genbench.testing.tasks import EnumerableTask

KIT_PLUGIN = "genbench_kit"
SMALL_TASKS = {"image": "image/digits", "toy": "toy/ring8", "audio": "audio/digits"}
"""The real task checked per modality when none is named."""
FIT_SEED = 12_345
SAMPLE_SEEDS = (1, 2)
N_SAMPLES = 16
N_LIKELIHOOD = 64
EXACT_TOLERANCE = 1e-6
CONTINUOUS_TOLERANCE = 0.02
AUDIT_BATCH = 4096
IMPORTANCE_SAMPLES = (1, 4, 16)

PASS, FAIL, SKIP, NOT_APPLICABLE = "pass", "FAIL", "skip", "n/a"


@dataclass(frozen=True)
class CheckResult:
    """One check of one model on one task."""

    check: str
    hook: str
    task: str
    status: str
    message: str = ""

    def line(self) -> str:
        return f"{self.status:4}  {self.task:18}  {self.hook:15}  {self.check}: {self.message}"


@dataclass
class ValidationReport:
    """Every check of one model. ``ok`` when none failed."""

    model: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures()

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == FAIL]

    def table(self) -> str:
        passed = sum(r.status == PASS for r in self.results)
        head = (
            f"{self.model}: {'conforms' if self.ok else 'DOES NOT CONFORM'} "
            f"({passed} passed, {len(self.failures())} failed, "
            f"{sum(r.status in (SKIP, NOT_APPLICABLE) for r in self.results)} skipped or n/a)"
        )
        return "\n".join([head, *("  " + r.line() for r in self.results)])

    def assert_ok(self) -> None:
        """Raise ``AssertionError`` listing every failure (for pytest)."""
        if not self.ok:
            lines = [f"{r.hook} on {r.task}: {r.check}: {r.message}" for r in self.failures()]
            raise AssertionError(f"{self.model} fails genbench's contract:\n" + "\n".join(lines))


class _Failed(Exception):
    """A check failed; ends the checks that depend on it."""


class ConformanceKit:
    """Runs the checks of this module on registered models.

    Args:
        registry: a registry that includes the kit's tasks (build one with
            :meth:`from_plugins`).
        budget: the budget models are fitted at (``smoke`` by default).
        timeout: seconds one hook call may take.
    """

    def __init__(self, registry: Registry, *, budget: str = "smoke", timeout: float = 600.0):
        self.registry = registry
        self.budget = budget
        self.timeout = timeout

    @classmethod
    def from_plugins(
        cls,
        plugin_files: Iterable[str | Path] = (),
        plugins: Iterable[ModuleType | object] = (),
        **kwargs: Any,
    ) -> ConformanceKit:
        """A kit over every plugin genbench loads (entry points, subject to
        the usual switches, and ``plugin_files``), plus ``plugins``: plugin
        modules or objects registered in-process (e.g. your package's
        module in its own tests, where autoloading may be off)."""
        pm = get_plugin_manager(plugin_files)
        for plugin in plugins:
            name = getattr(plugin, "__name__", type(plugin).__name__).replace(".", "_")
            if not pm.is_registered(plugin):
                register_plugin(pm, plugin, name)
        register_plugin(pm, kit_tasks, KIT_PLUGIN)
        return cls(Registry(pm), **kwargs)

    # -- public ----------------------------------------------------------------

    def validate(
        self, model: str, tasks: Sequence[str] = (), *, audit: bool = True
    ) -> ValidationReport:
        """Check ``model`` on ``tasks`` (default: a small real task per
        modality it supports) and, with ``audit``, on the kit's enumerable
        tasks of its modalities."""
        spec = self.registry.model(model)
        report = ValidationReport(model)
        chosen = list(tasks) or [
            SMALL_TASKS[m] for m in spec.modalities if SMALL_TASKS.get(m) in self.registry.tasks
        ]
        if audit:
            chosen += [
                t.name
                for t in self.registry.tasks.values()
                if isinstance(t, EnumerableTask)
                and t.modality in spec.modalities
                and t.name not in chosen
            ]
        for name in chosen:
            task = self.registry.task(name)
            if task.modality not in spec.modalities:
                report.results.append(
                    CheckResult(
                        "modality", "-", name, NOT_APPLICABLE, f"model is for {spec.modalities}"
                    )
                )
                continue
            with tempfile.TemporaryDirectory(prefix="genbench-kit-") as directory:
                _TaskChecks(self, spec, task, Path(directory), report).run(audit)
        return report


class _TaskChecks:
    def __init__(
        self,
        kit: ConformanceKit,
        spec: ModelSpec,
        task: Task,
        directory: Path,
        report: ValidationReport,
    ):
        self.kit, self.spec, self.task, self.report = kit, spec, task, report
        self.directory = directory
        self.kit_task = isinstance(task, EnumerableTask)

    def add(self, check: str, hook: str, status: str, message: str = "") -> None:
        self.report.results.append(CheckResult(check, hook, self.task.name, status, message))

    def fail(self, check: str, hook: str, message: str) -> _Failed:
        self.add(check, hook, FAIL, message)
        return _Failed(message)

    def call(self, hook: str, **kwargs: Any) -> Any:
        return call_hook(
            self.kit.registry.pm,
            hook,
            plugin=self.spec.plugin,
            timeout=self.kit.timeout,
            **kwargs,
        )

    def checkpoint(self) -> Checkpoint:
        key = {
            "kit": 1,
            "plugin": self.spec.plugin,
            "network": self.spec.trains_as or self.spec.name,
            "task": self.task.name,
            "budget": self.kit.budget,
            "seed": FIT_SEED,
        }
        return Checkpoint(self.directory, key)

    def fit(self) -> Any:
        return self.call(
            "fit",
            spec=self.spec,
            task=self.task,
            budget=self.kit.budget,
            seed=FIT_SEED,
            checkpoint=self.checkpoint(),
            device=torch.device("cpu"),  # the kit checks contracts on the CPU
        )

    def samples(self, model: Any, seed: int, check: str, condition: Condition | None = None) -> Any:
        try:
            x = self.call("sample", model=model, n=N_SAMPLES, seed=seed, condition=condition)
        except HookFailure as exc:
            raise self.fail(check, "sample", exc.reason) from exc
        try:
            return self.task.validate_samples(x, N_SAMPLES)
        except SampleValidationError as exc:
            raise self.fail(
                check, "sample", f"samples are not in the task's format: {exc}"
            ) from exc

    def run(self, audit: bool) -> None:
        try:
            model = self.fit()
        except HookFailure as exc:
            if self.kit_task:
                self.add("fit", "fit", NOT_APPLICABLE, f"cannot fit this kit task: {exc.reason}")
            else:
                self.add("fit", "fit", FAIL, exc.reason)
            return
        self.add("fit", "fit", PASS, "returned a model")
        try:
            first = self.samples(model, SAMPLE_SEEDS[0], "format")
            self.add("format", "sample", PASS, f"{N_SAMPLES} samples in the task's format")
            self.determinism(model, first)
            self.checkpoint_round_trip(first)
            self.pickle_round_trip(model, first)
        except _Failed:
            pass
        if "conditional_sample" in self.spec.capabilities and self.task.num_classes is not None:
            with contextlib.suppress(_Failed):  # recorded as a failure already
                self.conditional(model)
        self.model_info(model)
        if "log_likelihood" in self.spec.capabilities:
            self.likelihood(model, audit)
        if "reconstruct" in self.spec.capabilities:
            self.reconstruction(model)

    def determinism(self, model: Any, first: Any) -> None:
        again = self.samples(model, SAMPLE_SEEDS[0], "same seed")
        if content_hash(_hashable(again)) != content_hash(_hashable(first)):
            raise self.fail(
                "same seed",
                "sample",
                f"two calls with seed {SAMPLE_SEEDS[0]} gave different samples: the model is "
                "not reproducible (draw every random number from a generator seeded with "
                "`seed`, e.g. torch.Generator().manual_seed(seed), never global state)",
            )
        self.add("same seed", "sample", PASS, "identical samples for the same seed")
        other = self.samples(model, SAMPLE_SEEDS[1], "other seed")
        if content_hash(_hashable(other)) == content_hash(_hashable(first)):
            raise self.fail(
                "other seed",
                "sample",
                f"seeds {SAMPLE_SEEDS[0]} and {SAMPLE_SEEDS[1]} gave identical samples: the "
                "`seed` argument is ignored",
            )
        self.add("other seed", "sample", PASS, "different samples for another seed")

    def conditional(self, model: Any) -> None:
        """Class-conditional calls: the format at ``w = 0`` and ``w = 1``
        (one sample per asked label), then the same seed twice."""
        labels = self.task.guidance_labels(N_SAMPLES)
        for scale in (0.0, 1.0):
            check = f"conditional w={scale:g}"
            first = self.samples(model, SAMPLE_SEEDS[0], check, Condition(labels.clone(), scale))
            self.add(check, "sample", PASS, f"{N_SAMPLES} samples for {N_SAMPLES} asked labels")
        again = self.samples(model, SAMPLE_SEEDS[0], "conditional seed", Condition(labels, 1.0))
        if content_hash(_hashable(again)) != content_hash(_hashable(first)):
            raise self.fail(
                "conditional seed",
                "sample",
                f"two conditional calls with seed {SAMPLE_SEEDS[0]} and the same labels gave "
                "different samples: seed every draw from `seed`",
            )
        self.add("conditional seed", "sample", PASS, "identical samples for the same seed")

    def checkpoint_round_trip(self, first: Any) -> None:
        saved = self.checkpoint().path.exists()
        try:
            reloaded = self.fit()
        except HookFailure as exc:
            raise self.fail(
                "checkpoint", "fit", f"fitting again from the saved checkpoint failed: {exc.reason}"
            ) from exc
        again = self.samples(reloaded, SAMPLE_SEEDS[0], "checkpoint")
        if content_hash(_hashable(again)) != content_hash(_hashable(first)):
            what = (
                "a model reloaded from its checkpoint (checkpoint.load()) gives different "
                "samples than the model that saved it: the checkpoint does not round-trip "
                "(save every tensor the model needs, and rebuild from it exactly)"
                if saved
                else "fitting twice with the same seed gave models with different samples, and "
                "nothing was saved with checkpoint.save(): training is not reproducible"
            )
            raise self.fail("checkpoint", "fit", what)
        self.add(
            "checkpoint",
            "fit",
            PASS,
            "reloaded model samples identically"
            if saved
            else "nothing checkpointed; refitting is deterministic",
        )

    def pickle_round_trip(self, model: Any, first: Any) -> None:
        try:
            copy = pickle.loads(pickle.dumps(model))
        except Exception as exc:
            raise self.fail(
                "pickle",
                "fit",
                f"the fitted model cannot be pickled ({type(exc).__name__}: {exc}); process "
                "and Dask executors move models and results between processes",
            ) from exc
        again = self.samples(copy, SAMPLE_SEEDS[0], "pickle")
        if content_hash(_hashable(again)) != content_hash(_hashable(first)):
            raise self.fail(
                "pickle", "fit", "a pickled and unpickled model gives different samples"
            )
        self.add("pickle", "fit", PASS, "the model survives a pickle round trip")

    def model_info(self, model: Any) -> None:
        try:
            info = self.call("model_info", model=model)
        except HookFailure as exc:
            if exc.error_type == "NotImplementedError":
                self.add("facts", "model_info", SKIP, "not implemented (optional)")
            else:
                self.add("facts", "model_info", FAIL, exc.reason)
            return
        bad = [
            k
            for k, v in (info.items() if isinstance(info, dict) else [])
            if not isinstance(v, (int, float)) or not math.isfinite(float(v))
        ]
        if not isinstance(info, dict) or bad:
            self.add(
                "facts",
                "model_info",
                FAIL,
                f"must return a dict of finite numbers; got {type(info).__name__}"
                + (f" with non-numbers or non-finite values under {bad}" if bad else ""),
            )
            return
        self.add("facts", "model_info", PASS, ", ".join(sorted(info)) or "empty")

    def log_likelihood(self, model: Any, x: Any) -> LogLikelihood:
        result = self.call("log_likelihood", model=model, x=x)
        return validate_log_likelihood(result, len(x), discrete=self.task.discrete)

    def likelihood(self, model: Any, audit: bool) -> None:
        x = _take(self.task.likelihood_batch(self.kit.budget), N_LIKELIHOOD)
        try:
            result = self.log_likelihood(model, x)
        except HookFailure as exc:
            self.add("format", "log_likelihood", FAIL, exc.reason)
            return
        except SampleValidationError as exc:
            self.add("format", "log_likelihood", FAIL, str(exc))
            return
        if not isinstance(result.exact, (bool, np.bool_)):
            self.add(
                "format", "log_likelihood", FAIL, f"exact must be a bool, got {result.exact!r}"
            )
            return
        kind = "exact" if result.exact else f"a bound ({result.method})"
        self.add("format", "log_likelihood", PASS, f"one value per example, {kind}")
        if audit and self.kit_task:
            self.audit(model, bool(result.exact))
            if not result.exact:
                self.importance_samples(model, x)

    def audit(self, model: Any, exact: bool) -> None:
        domain, volume = self.task.domain()
        parts = []
        try:
            for start in range(0, len(domain), AUDIT_BATCH):
                batch = domain[start : start + AUDIT_BATCH]
                parts.append(self.log_likelihood(model, batch).nats)
        except (HookFailure, SampleValidationError) as exc:
            reason = exc.reason if isinstance(exc, HookFailure) else str(exc)
            if self.task.integration_step is not None:  # e.g. zero density off a support
                self.add("audit", "log_likelihood", SKIP, f"not on the whole grid: {reason}")
            else:
                self.add("audit", "log_likelihood", FAIL, f"on the enumerated domain: {reason}")
            return
        total = float(np.exp(logsumexp(np.concatenate(parts)) + math.log(volume)))
        continuous = self.task.integration_step is not None
        where = (
            f"integral of the density over a grid on [-{self.task.box:g}, {self.task.box:g}]^2"
            if continuous
            else f"sum of exp(log_likelihood) over all {len(domain):,} possible examples"
        )
        tolerance = CONTINUOUS_TOLERANCE if continuous else EXACT_TOLERANCE
        if total > 1 + tolerance:
            self.add(
                "audit",
                "log_likelihood",
                FAIL,
                f"the model over-claims likelihood: the {where} is {total:.6g} > 1 "
                f"({'exact' if exact else 'a bound'}; tolerance {tolerance:g})",
            )
        elif exact and not continuous and total < 1 - tolerance:
            self.add(
                "audit",
                "log_likelihood",
                FAIL,
                f"exact=True, but the {where} is {total:.6g}, not 1 (tolerance {tolerance:g}): "
                "report exact=False for a bound",
            )
        else:
            self.add("audit", "log_likelihood", PASS, f"{where}: {total:.9g}")

    def importance_samples(self, model: Any, x: Any) -> None:
        make = getattr(model, "with_importance_samples", None)
        if not callable(make):
            self.add(
                "bound vs k",
                "log_likelihood",
                SKIP,
                "the model does not expose its importance samples (a "
                "with_importance_samples(k) method on the fitted model)",
            )
            return
        means = []
        for k in IMPORTANCE_SAMPLES:
            means.append(float(self.log_likelihood(make(k), x).nats.mean()))
        if any(b < a - 1e-6 * max(1.0, abs(a)) for a, b in itertools.pairwise(means)):
            self.add(
                "bound vs k",
                "log_likelihood",
                FAIL,
                f"the bound decreases with more importance samples: mean nats {means} for "
                f"k = {list(IMPORTANCE_SAMPLES)}",
            )
        else:
            self.add("bound vs k", "log_likelihood", PASS, f"mean nats {means}")

    def reconstruction(self, model: Any) -> None:
        x = _take(self.task.reconstruction_batch(self.kit.budget), N_SAMPLES)
        try:
            x_hat = self.call("reconstruct", model=model, x=x)
        except HookFailure as exc:
            self.add("format", "reconstruct", FAIL, exc.reason)
            return
        try:
            checked = self.task.validate_samples(x_hat, len(x))
        except SampleValidationError as exc:
            self.add("format", "reconstruct", FAIL, f"not in its input's format: {exc}")
            return
        if type(x_hat) is not type(x) or getattr(checked, "dtype", None) != getattr(
            x, "dtype", None
        ):
            self.add(
                "format",
                "reconstruct",
                FAIL,
                f"must return what it was given ({type(x).__name__} of "
                f"{getattr(x, 'dtype', '-')}), got {type(x_hat).__name__} of "
                f"{getattr(x_hat, 'dtype', '-')}",
            )
            return
        self.add("format", "reconstruct", PASS, "same format, shape and dtype as its input")


def _take(x: Any, n: int) -> Any:
    return x[: min(n, len(x))]


def _hashable(x: Any) -> Any:
    return x if isinstance(x, (torch.Tensor, list, str)) else np.asarray(x)
