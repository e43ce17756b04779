"""The same grid gives identical results serially, in a process pool and on
a two-worker Dask LocalCluster bound to 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from genbench import executors
from genbench.executors import (
    ExecutorSpecError,
    check_executor_spec,
    open_executor,
    resolve_executor,
)
from genbench.grid import cell_config, plan_grid
from genbench.harness import RunSettings
from genbench.plugins import get_plugin_manager
from genbench.registry import Registry
from genbench.results import iter_records
from genbench.runner import group_by_training, run_grid

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
    for record in iter_records(root):
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
        check_executor_spec(spec)
    with pytest.raises(ExecutorSpecError, match=message), open_executor(spec):
        pass


@pytest.mark.parametrize(
    ("cores", "cells", "expected"),
    [(2, 10, "process:2"), (8, 3, "process:3"), (1, 10, "serial"), (4, 1, "serial")],
)
def test_auto_uses_one_worker_per_core_and_never_more_than_the_cells(
    monkeypatch, cores, cells, expected
):
    monkeypatch.setattr(executors, "usable_cores", lambda: cores)
    assert resolve_executor("auto", cells) == expected
    assert resolve_executor("dask-local:2", cells) == "dask-local:2"


def test_cells_sharing_a_trained_network_are_grouped_behind_the_first():
    registry = Registry(get_plugin_manager())  # the built-in families are always there
    names = ["diffusion-ddim", "vae", "diffusion-ddpm"]
    cells = plan_grid(registry, models=names, tasks=["toy/ring8"], seeds=2, budget="smoke")
    pending = [(c, cell_config(registry, c), Path(f"{c.model}-{c.seed}")) for c in cells]
    groups = [[str(path) for _, _, path in group] for group in group_by_training(pending)]
    assert sorted(map(sorted, groups)) == [
        ["diffusion-ddim-0", "diffusion-ddpm-0"],
        ["diffusion-ddim-1", "diffusion-ddpm-1"],
        ["vae-0"],
        ["vae-1"],
    ]
