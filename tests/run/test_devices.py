"""Devices: parsing and validating ``--device``, placing pool workers on
GPUs, the device in records (never in the hash), a device out of memory as
one cell's failed record, and the CLI's one-line errors. No GPU is needed:
GPUs are simulated by replacing the functions that count them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from record_factory import make_record

from genbench import devices
from genbench.cli import main
from genbench.devices import (
    DeviceError,
    accelerator_slots,
    describe,
    is_out_of_memory,
    out_of_memory_reason,
    place,
    resolve_device,
)
from genbench.plugins import get_plugin_manager
from genbench.records import load_record
from genbench.records.record import Provenance
from genbench.registry import Registry
from genbench.report.regression import device_note
from genbench.run import executors, worker
from genbench.run.executors import parse_executor
from genbench.run.grid import plan_grid, run_config
from genbench.run.harness import run_cell, takes_device
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings

DEVICE_PLUGIN = Path(__file__).resolve().parent / "device_plugin.py"


def _machine(monkeypatch, gpus: int = 0, mps: bool = False) -> None:
    """Pretend this machine has ``gpus`` CUDA GPUs (and MPS when ``mps``)."""
    monkeypatch.setattr(devices, "cuda_count", lambda: gpus)
    monkeypatch.setattr(devices, "mps_available", lambda: mps)
    monkeypatch.setattr(worker, "cuda_count", lambda: gpus)


# -- resolving the device string -----------------------------------------------------


@pytest.mark.parametrize(
    ("gpus", "mps", "expected"), [(0, False, "cpu"), (2, False, "cuda"), (0, True, "cpu")]
)
def test_auto_prefers_cuda_then_the_cpu_never_mps(monkeypatch, gpus, mps, expected):
    _machine(monkeypatch, gpus, mps)
    assert resolve_device("auto") == expected


def test_device_strings_are_normalised_and_the_environment_is_the_default(monkeypatch):
    _machine(monkeypatch, gpus=2)
    assert resolve_device(" CUDA:1 ") == "cuda:1"
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setenv("GENBENCH_DEVICE", "cuda:0")
    assert resolve_device() == "cuda:0"
    monkeypatch.delenv("GENBENCH_DEVICE")
    assert resolve_device() == "cuda"  # auto


@pytest.mark.parametrize(
    ("spec", "gpus", "message"),
    [
        (
            "tpu",
            0,
            "unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps (available here: cpu)",
        ),
        ("cpu:1", 0, "unknown device 'cpu:1'; use auto, cpu, cuda, cuda:N or mps"),
        ("cuda:x", 1, "unknown device 'cuda:x'"),
        ("cuda", 0, "device 'cuda' is not available: no CUDA GPU found (available: cpu)"),
        (
            "cuda:7",
            1,
            "device 'cuda:7' is not available: this machine has 1 CUDA GPU "
            "(available: cpu, cuda:0)",
        ),
        ("cuda:2", 2, "this machine has 2 CUDA GPUs (available: cpu, cuda:0, cuda:1)"),
        ("mps", 0, "device 'mps' is not available: no Metal GPU (available: cpu)"),
    ],
)
def test_a_bad_or_missing_device_is_one_line_naming_it_and_what_is_available(
    monkeypatch, spec, gpus, message
):
    _machine(monkeypatch, gpus)
    with pytest.raises(DeviceError) as caught:
        resolve_device(spec)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_this_machine_resolves_auto_to_a_device_it_has():
    assert resolve_device("auto") in ("cpu", "cuda")
    assert "cpu" in devices.available_devices()


# -- placing workers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "slot", "gpus", "expected"),
    [
        ("cuda", 0, 2, "cuda:0"),
        ("cuda", 3, 2, "cuda:1"),
        ("cuda", None, 2, "cuda:0"),
        ("cuda:1", 0, 2, "cuda:1"),
        ("cpu", 5, 0, "cpu"),
        ("mps", 1, 0, "mps"),
    ],
)
def test_a_pool_places_worker_k_on_gpu_k_modulo_the_gpus(device, slot, gpus, expected):
    assert place(device, slot, gpus) == expected


def test_place_rejects_negative_slots():
    with pytest.raises(ValueError, match="slot and gpus must be non-negative, got slot=-1"):
        place("cuda", -1, 2)


def test_accelerator_slots_are_one_per_gpu_and_none_on_the_cpu(monkeypatch):
    _machine(monkeypatch, gpus=4)
    assert [accelerator_slots(d) for d in ("cuda", "cuda:2", "mps", "cpu")] == [4, 1, 1, 0]


@pytest.mark.parametrize(
    ("gpus", "cells", "expected"), [(2, 10, "process:2"), (4, 3, "process:3"), (1, 10, "serial")]
)
def test_auto_runs_one_worker_per_gpu(monkeypatch, gpus, cells, expected):
    monkeypatch.setattr(executors, "usable_cores", lambda: 16)
    assert str(parse_executor("auto").for_cells(cells, accelerators=gpus)) == expected
    assert str(parse_executor("auto").for_cells(cells)) == f"process:{min(16, cells)}"
    assert str(parse_executor("process:3").for_cells(cells, accelerators=gpus)) == "process:3"


def test_a_pool_worker_takes_the_gpu_of_its_slot(monkeypatch):
    _machine(monkeypatch, gpus=2)
    monkeypatch.setenv(worker.SLOT_ENV, "3")
    assert worker.worker_device("cuda") == "cuda:1"
    assert worker.worker_device("cuda:0") == "cuda:0"
    assert worker.worker_device("cpu") == "cpu"
    monkeypatch.delenv(worker.SLOT_ENV)
    assert worker.worker_device("cuda") == "cuda:0"  # this process: the first GPU


def test_pool_workers_know_their_slot():
    """Process-pool workers get $GENBENCH_WORKER_SLOT, Dask LocalCluster
    workers their numeric names: either way slots 0..N-1, so ``cuda``
    spreads a pool over the GPUs."""
    with parse_executor("process:2").open() as pool:
        slots = {pool.submit(worker.worker_slot).result() for _ in range(4)}
    assert slots and slots <= {0, 1}
    with parse_executor("dask-local:2").open() as pool:
        slots = {pool.submit(worker.worker_slot).result() for _ in range(4)}
    assert slots and slots <= {0, 1}
    assert worker.worker_slot() is None  # this process is in no pool


# -- facts and out-of-memory errors --------------------------------------------------


def test_describe_names_the_device(monkeypatch):
    cpu = describe("cpu")
    assert cpu.kind == "cpu" and cpu.name and cpu.index is None
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Fake GPU {index}")
    assert describe("cuda:1").to_dict() == {"kind": "cuda", "name": "Fake GPU 1", "index": 1}
    assert describe("cuda").index == 0


def test_out_of_memory_is_recognised_and_described_on_one_line():
    cuda_error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB\ndetails")
    assert is_out_of_memory(cuda_error)
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"))
    assert not is_out_of_memory(RuntimeError("shapes do not match"))
    assert not is_out_of_memory(ValueError("out of memory"))
    reason = out_of_memory_reason(cuda_error, "cpu")
    assert reason.startswith(f"cpu ({devices.cpu_name()}) ran out of memory: CUDA out of memory.")
    assert "(available: cpu" in reason and "\n" not in reason


# -- records -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(get_plugin_manager([DEVICE_PLUGIN]))


def _settings(tmp_path: Path, cache_dir: Path, device: str = "cpu") -> RunSettings:
    return RunSettings(
        results_dir=tmp_path / "results",
        cache_dir=cache_dir,
        hook_timeout=60.0,
        plugin_files=(str(DEVICE_PLUGIN),),
        device=device,
    )


def test_out_of_memory_in_one_cell_fails_that_cell_and_the_grid_goes_on(
    registry, tmp_path, cache_dir
):
    cells = plan_grid(
        registry, models=["dev-oom", "dev-where"], tasks=["toy/ring8"], seeds=1, budget="smoke"
    )
    report = run_grid(cells, _settings(tmp_path, cache_dir), registry)
    assert len(report.failed) == 1 and len(report.written) == 1
    failure = load_record(report.failed[0]).failure
    assert (failure.plugin, failure.hook, failure.error_type) == (
        "device_plugin",
        "fit",
        "OutOfMemoryError",
    )
    assert failure.reason.startswith("cpu (") and "ran out of memory: CUDA out of memory." in (
        failure.reason
    )
    assert "available: cpu" in failure.reason and "\n" not in failure.reason
    ok = load_record(report.written[0])
    assert ok.model_info["fit_on_cpu"] == 1.0  # fit was handed the run's device
    stored = json.loads(report.written[0].read_text())
    assert stored["provenance"]["device"] == {
        "kind": "cpu",
        "name": devices.cpu_name(),
        "index": None,
    }
    # the hash is the configuration's, which no device enters
    assert stored["config_hash"] == run_config(registry, cells[1]).hash
    assert not any("device" in key for key in stored["config"])


def test_a_plugin_whose_fit_takes_no_device_runs_and_is_recorded_on_the_cpu(tmp_path, cache_dir):
    fakes = Path(__file__).resolve().parents[1] / "fake_plugins.py"
    registry = Registry(get_plugin_manager([fakes]))
    assert not takes_device(registry.pm, "fake_plugins")
    assert takes_device(Registry(get_plugin_manager([DEVICE_PLUGIN])).pm, "device_plugin")
    (cell,) = plan_grid(
        registry, models=["fake-good"], tasks=["toy/ring8"], seeds=1, budget="smoke"
    )
    settings = dataclasses.replace(
        _settings(tmp_path, cache_dir), plugin_files=(str(fakes),), device="cuda:0"
    )
    outcome = run_cell(cell, run_config(registry, cell), settings, registry)
    assert outcome.record.ok and outcome.record.provenance.device_kind == "cpu"


def test_records_without_a_device_read_as_cpu_runs():
    stored = make_record("vae", "vae", 0, {"fid": 1.0}).provenance.to_dict()
    stored.pop("device", None)
    provenance = Provenance.from_dict(stored)
    assert provenance.device is None and provenance.device_kind == "cpu"
    assert provenance.device_label == "cpu (not recorded)"


def test_check_says_when_the_sides_ran_on_different_devices():
    cpu = make_record("vae", "vae", 0, {"fid": 1.0})
    gpu_provenance = Provenance.from_dict(
        {**cpu.provenance.to_dict(), "device": {"kind": "cuda", "name": "H200", "index": 0}}
    )
    gpu = dataclasses.replace(cpu, provenance=gpu_provenance)
    note = device_note([gpu], [cpu])
    assert note is not None and note.startswith("note: fresh runs on cuda (H200), baseline on cpu")
    assert "within their spread" in note
    assert device_note([cpu], [cpu]) is None and device_note([], [cpu]) is None


# -- the CLI -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--device", "cuda"], {}, "device 'cuda' is not available: no CUDA GPU found"),
        ([], {"GENBENCH_DEVICE": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_run_stops_before_any_work_on_a_device_it_lacks(monkeypatch, tmp_path, args, env, message):
    _machine(monkeypatch, gpus=0)
    result = CliRunner().invoke(
        main,
        ["run", "-t", "toy/ring8", "--results", str(tmp_path / "r"), "--no-leaderboard", *args],
        env=env,
    )
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()  # one line, no usage text
    assert line.startswith("Error: ") and message in line
    assert not (tmp_path / "r").exists()
