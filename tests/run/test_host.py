"""The plugin host cannot be fooled: each test reproduces a failure a new
user met (see the numbered findings) and checks it is gone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from genbench.plugins import get_plugin_manager, register_plugin
from genbench.records import claim, iter_records, load_record, record_path, release
from genbench.records.store import claim_holder, lock_path
from genbench.registry import Registry
from genbench.run.grid import Cell, run_config
from genbench.run.hooks import process_is_clean
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings

TASK = "toy/ring8"
TESTS = Path(__file__).resolve().parents[1]
FAKE = TESTS / "fake_plugins.py"
HIJACK = TESTS / "hijack_plugin.py"


def _settings(root: Path, cache: Path, timeout: float | None = 60.0, files=(FAKE,)) -> RunSettings:
    return RunSettings(
        results_dir=root / "results",
        cache_dir=cache,
        hook_timeout=timeout,
        plugin_files=tuple(str(f) for f in files),
    )


def _by_model(root: Path) -> dict:
    return {r.config.model.name: r for r in iter_records(root / "results")}


# -- 1. hijacking ----------------------------------------------------------------


def test_a_plugin_that_answers_for_every_model_cannot_hijack_another_plugins_model(
    tmp_path, cache_dir
):
    # the hijacker is registered last, so pluggy would call its hooks first
    registry = Registry(get_plugin_manager([FAKE, HIJACK]))
    cells = [Cell(name, TASK, 0, "smoke") for name in ("fake-good", "gaussian", "greedy")]
    run_grid(cells, _settings(tmp_path, cache_dir, files=(FAKE, HIJACK)), registry)
    records = _by_model(tmp_path)
    assert {name: r.status for name, r in records.items()} == {
        "fake-good": "ok",
        "gaussian": "ok",
        "greedy": "ok",
    }
    # the hijacker's samples sit at (7, 7) with log-likelihood +5 nats and 42 parameters
    for name in ("fake-good", "gaussian"):
        record = records[name]
        assert record.model_info.get("parameters") != 42.0, name
        assert record.metrics["nll_nats"] != -5.0, name
        assert record.metrics["true_log_density"] > -1e4, name  # (7, 7) is far from the ring
    assert records["greedy"].model_info["parameters"] == 42.0
    assert records["greedy"].metrics["nll_nats"] == -5.0
    assert records["greedy"].config.model.plugin == "hijack_plugin"


def test_work_hooks_reach_only_the_owning_plugin():
    from genbench.plugins import call_owned

    pm = get_plugin_manager([FAKE, HIJACK])
    assert call_owned(pm, "model_info", "hijack_plugin", model=object()) == {"parameters": 42.0}
    assert call_owned(pm, "model_info", "fake_plugins", model=object()) is None
    assert call_owned(pm, "model_info", "baselines", model=object()) is None


# -- 2. a hung hook poisons the next cell -----------------------------------------


@pytest.mark.parametrize("executor", ["serial", "process:1"])
@pytest.mark.parametrize("hung", ["fake-spins", "fake-stuck"])
def test_a_timed_out_hook_does_not_outlive_its_cell(
    tmp_path, cache_dir, monkeypatch, executor, hung
):
    """A busy-looping (or natively stuck) ``sample`` times out; the next
    model, of another plugin, runs at full speed and is not blamed."""
    # the stuck hook's thread in this (test) process must end soon after
    monkeypatch.setenv("FAKE_STUCK_SECONDS", "8")
    registry = Registry(get_plugin_manager([FAKE]))
    cells = [Cell(hung, TASK, 0, "smoke"), Cell("gaussian", TASK, 0, "smoke")]
    started = time.monotonic()
    report = run_grid(
        cells, _settings(tmp_path, cache_dir, timeout=3.0), registry, executor=executor
    )
    elapsed = time.monotonic() - started
    records = _by_model(tmp_path)
    failure = records[hung].failure
    assert (failure.plugin, failure.hook) == ("fake_plugins", "sample")
    assert failure.reason.startswith("timed out after 3 s"), failure.reason
    assert "fake_plugins.py" in failure.traceback  # where it hung
    assert records["gaussian"].ok, records["gaussian"].failure
    assert records["gaussian"].timings["log_likelihood_s"] < 3.0
    stuck = hung == "fake-stuck"
    assert ("could not be interrupted" in failure.reason) == stuck
    if executor == "serial":
        assert report.moved_to_worker == stuck
        if not stuck:
            assert process_is_clean()
    assert elapsed < 120
    deadline = time.monotonic() + 15
    while not process_is_clean() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process_is_clean()


# -- 4. stale checkpoints -----------------------------------------------------------

_TRAINS_COUNTER = """
import os
from pathlib import Path
import torch
from genbench import ModelSpec, hookimpl

COUNTER = Path(os.environ["STALE_COUNTER"])


class Model:
    def __init__(self, mean):
        self.mean = mean


@hookimpl
def register_models(register):
    register(ModelSpec(name="stale-model", family="test", modalities=("toy",)))


@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    state = checkpoint.load()
    if state is None:
        COUNTER.write_text(str(int(COUNTER.read_text() or 0) + 1))
        state = {"mean": task.load().train.mean(0)}
        checkpoint.save(state)
    return Model(state["mean"])


@hookimpl
def sample(model, n, seed):
    g = torch.Generator().manual_seed(seed)
    return model.mean + torch.randn((n, 2), generator=g)
"""


class _Dist:
    """What an installed distribution looks like to the plugin manager."""

    name = "stale-dist"
    version = "1.0"


def _installed_registry(package: Path) -> Registry:
    import importlib

    sys.modules.pop("stalepkg", None)
    importlib.invalidate_caches()
    module = importlib.import_module("stalepkg")
    pm = get_plugin_manager()  # genbench's own tasks
    register_plugin(pm, module, "stalepkg", dist=_Dist())
    return Registry(pm)


def test_editing_an_installed_plugin_retrains_and_retrain_ignores_the_cache(tmp_path, monkeypatch):
    package = tmp_path / "site" / "stalepkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_TRAINS_COUNTER)
    counter = tmp_path / "trainings"
    counter.write_text("0")
    monkeypatch.setenv("STALE_COUNTER", str(counter))
    monkeypatch.syspath_prepend(str(package.parent))
    cache = tmp_path / "cache"
    cells = [Cell("stale-model", TASK, 0, "smoke")]

    registry = _installed_registry(package)
    hash_before = run_config(registry, cells[0]).hash
    run_grid(cells, _settings(tmp_path, cache, files=()), registry)
    run_grid(cells, _settings(tmp_path, cache, files=()), registry, force=True)
    assert counter.read_text() == "1"  # the second run loaded the checkpoint

    # edit the code, keep the version: the checkpoint must not be reused ...
    (package / "__init__.py").write_text(_TRAINS_COUNTER + "\n# changed\n")
    registry = _installed_registry(package)
    assert registry.model("stale-model").plugin_version == "1.0"
    run_grid(cells, _settings(tmp_path, cache, files=()), registry, force=True)
    assert counter.read_text() == "2"
    # ... while the config hash (and so every committed record) stays valid
    assert run_config(registry, cells[0]).hash == hash_before
    assert run_grid(cells, _settings(tmp_path, cache, files=()), registry).skipped

    # --retrain: the cached checkpoint of the selected cells is ignored
    report = run_grid(
        cells, _settings(tmp_path, cache, files=()), registry, force=True, retrain=True
    )
    assert report.written and counter.read_text() == "3"


# -- 8. two runs on one results directory ------------------------------------------


def test_claims_are_exclusive_and_stale_claims_are_taken_over(tmp_path):
    path = record_path(tmp_path, TASK, "m", "smoke", 0)
    assert claim(path) and claim(path)  # ours, and ours again
    holder = claim_holder(path)
    assert holder["pid"] == os.getpid() and holder["host"] and holder["since"] > 0
    release(path)
    assert not lock_path(path).exists()

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(path).parent.mkdir(parents=True, exist_ok=True)
        lock_path(path).write_text(json.dumps({**holder, "pid": sleeper.pid}))
        assert not claim(path)  # a live process holds it
    finally:
        sleeper.kill()
        sleeper.wait()
    assert claim(path)  # its process is gone: stale, taken over
    assert claim_holder(path)["pid"] == os.getpid()
    release(path)


def test_a_second_run_waits_for_the_cells_another_run_claimed(tmp_path, cache_dir):
    registry = Registry(get_plugin_manager([FAKE]))
    settings = _settings(tmp_path, cache_dir)
    cells = [Cell("fake-good", TASK, 0, "smoke"), Cell("fake-good", TASK, 1, "smoke")]
    first = run_grid(cells[:1], _settings(tmp_path / "elsewhere", cache_dir), registry)
    finished = load_record(first.written[0])
    target = record_path(settings.results_dir, TASK, "fake-good", "smoke", 0)

    # another run (a live process) holds cell 0 and writes its record after 3 s
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    lock_path(target).parent.mkdir(parents=True, exist_ok=True)
    lock_path(target).write_text(
        json.dumps({"pid": other.pid, "host": os.uname().nodename, "since": time.time()})
    )

    def other_run_finishes() -> None:
        time.sleep(3)
        from genbench.records import write_record

        write_record(target, finished)
        lock_path(target).unlink()
        other.kill()

    threading.Thread(target=other_run_finishes).start()
    try:
        report = run_grid(cells, settings, registry)
    finally:
        other.kill()
        other.wait()
    assert report.waited == [target] and report.skipped == [target]
    assert len(report.written) == 1  # only cell 1 was computed here
    assert not list(settings.results_dir.rglob("*.lock"))


# -- 9. tracebacks and file modes --------------------------------------------------


def test_failed_records_keep_the_plugins_traceback(tmp_path, cache_dir):
    registry = Registry(get_plugin_manager([FAKE]))
    report = run_grid(
        [Cell("fake-raises", TASK, 0, "smoke")], _settings(tmp_path, cache_dir), registry
    )
    failure = load_record(report.failed[0]).failure
    assert "fake_plugins.py" in failure.traceback and ", in fit" in failure.traceback
    assert "RuntimeError: the fake plugin exploded while fitting" in failure.traceback
    assert "genbench/run/" not in failure.traceback and "pluggy" not in failure.traceback


def test_records_and_checkpoints_get_the_ordinary_file_mode(tmp_path):
    registry = Registry(get_plugin_manager([FAKE]))
    previous = os.umask(0o022)
    try:
        report = run_grid(
            [Cell("fake-good", TASK, 0, "smoke")], _settings(tmp_path, tmp_path / "cache"), registry
        )
    finally:
        os.umask(previous)
    assert stat.S_IMODE(report.written[0].stat().st_mode) == 0o644
