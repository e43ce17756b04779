"""The same grid gives identical results serially, in a process pool and on
a two-worker Dask LocalCluster bound to 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from genbench.plugins import get_plugin_manager
from genbench.records import iter_records
from genbench.registry import Registry
from genbench.run import executors
from genbench.run.executors import ExecutorSpecError, ProcessPool, parse_executor
from genbench.run.grid import plan_grid, run_config
from genbench.run.runner import PendingCell, group_by_training, run_grid
from genbench.run.settings import RunSettings

RESULT_SECTIONS = ("metrics", "counts", "likelihood", "feature_extractor", "config_hash", "status")


def _run(executor: str, root: Path, cache: Path, fake_plugins: Path) -> dict:
    registry = Registry(get_plugin_manager([fake_plugins]))
    cells = plan_grid(
        registry,
        models=["fake-good", "fake-nan", "gaussian"],
        tasks=["toy/ring8"],
        seeds=2,
        budget="smoke",
    )
    settings = RunSettings(
        results_dir=root, cache_dir=cache, hook_timeout=120, plugin_files=(str(fake_plugins),)
    )
    run_grid(cells, settings, registry, executor=executor)
    out = {}
    for stored in iter_records(root):
        record = stored.to_dict()
        key = (record["config"]["model"]["name"], record["config"]["seed"])
        section = {k: record[k] for k in RESULT_SECTIONS}
        section["metrics"] = {
            k: v
            for k, v in record["metrics"].items()
            if k not in ("samples_per_second", "sample_seconds", "train_seconds")
        }
        out[key] = section
    return out


@pytest.mark.slow
def test_process_pool_and_dask_cluster_match_serial(tmp_path, fake_plugins):
    serial = _run("serial", tmp_path / "serial", tmp_path / "cache", fake_plugins)
    assert len(serial) == 6
    assert serial[("fake-nan", 0)]["status"] == "failed"
    pooled = _run("process:2", tmp_path / "pool", tmp_path / "cache", fake_plugins)
    dask = _run("dask-local:2", tmp_path / "dask", tmp_path / "cache", fake_plugins)
    for key in serial:
        assert pooled[key] == serial[key], key
        assert dask[key] == serial[key], key


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("threads", "unknown executor 'threads'"),
        ("process:0", "needs a positive worker count"),
        ("dask-local:x", "needs a positive worker count"),
    ],
)
def test_bad_executor_specs_are_rejected(spec, message):
    with pytest.raises(ExecutorSpecError, match=message):
        parse_executor(spec)


@pytest.mark.parametrize(
    ("cores", "cells", "expected"),
    [(2, 10, "process:2"), (8, 3, "process:3"), (1, 10, "serial"), (4, 1, "serial")],
)
def test_auto_uses_one_worker_per_core_and_never_more_than_the_cells(
    monkeypatch, cores, cells, expected
):
    monkeypatch.setattr(executors, "usable_cores", lambda: cores)
    assert str(parse_executor("auto").for_cells(cells)) == expected
    assert str(parse_executor("dask-local:2").for_cells(cells)) == "dask-local:2"


def test_cells_sharing_a_trained_network_are_grouped_behind_the_first():
    registry = Registry(get_plugin_manager())  # the built-in families are always there
    names = ["diffusion-ddim", "vae", "diffusion-ddpm"]
    cells = plan_grid(registry, models=names, tasks=["toy/ring8"], seeds=2, budget="smoke")
    pending = [PendingCell(c, run_config(registry, c), Path(f"{c.model}-{c.seed}")) for c in cells]
    groups = [[str(item.path) for item in group] for group in group_by_training(pending)]
    assert sorted(map(sorted, groups)) == [
        ["diffusion-ddim-0", "diffusion-ddpm-0"],
        ["diffusion-ddim-1", "diffusion-ddpm-1"],
        ["vae-0"],
        ["vae-1"],
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_interrupted_pool_cancels_its_cells_and_ends_its_workers_at_once():
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), ProcessPool(1).open() as pool:
        worker = pool.submit(os.getpid).result(timeout=120)
        running = pool.submit(time.sleep, 300)
        queued = pool.submit(time.sleep, 300)
        raise KeyboardInterrupt
    # shutdown(wait=True) would have waited 600 s for both sleeps
    assert time.monotonic() - started < 150
    assert not _alive(worker)
    # neither sleep ran to its end: the queued one was cancelled, or failed
    # with the pool if it had already been handed to the worker's queue
    for future in (running, queued):
        assert future.cancelled() or isinstance(future.exception(), BrokenProcessPool)


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigterm_stops_a_pooled_run_keeping_finished_records(tmp_path, fake_plugins, cache_dir):
    results = tmp_path / "results"
    command = [
        sys.executable, "-m", "genbench", "--plugin", str(fake_plugins), "run",
        "-m", "fake-good", "-m", "fake-hangs", "-t", "toy/ring8", "--seeds", "1",
        "--budget", "smoke", "--executor", "process:2", "--results", str(results),
        "--cache", str(cache_dir), "--no-leaderboard", "-q",
    ]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    good = results / "toy" / "ring8" / "fake-good" / "smoke-seed0.json"
    deadline = time.monotonic() + 180
    while not good.exists() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert good.exists(), driver.communicate()[0]
    time.sleep(1)  # fake-hangs is asleep in its 30 s `sample` by now
    workers = _children(driver.pid)
    driver.send_signal(signal.SIGTERM)
    output = driver.communicate(timeout=25)[0].decode()  # well before the hang ends
    assert driver.returncode == 143, output
    assert "the same command resumes the rest" in output
    assert json.loads(good.read_text())["status"] == "ok"
    assert not (good.parent.parent / "fake-hangs").exists()
    # the workers (and multiprocessing's resource tracker) end, not the sleep
    assert workers
    deadline = time.monotonic() + 10
    while [pid for pid in workers if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)]
