"""Which device a run computes on: the ``--device`` string, its validation
and resolution, the device's facts for records, and out-of-memory errors.

Accepted strings (``--device`` or ``$GENBENCH_DEVICE``, case-insensitive):

* ``auto`` — ``cuda`` where a CUDA GPU is visible, else ``cpu`` (never
  ``mps``: Apple's GPU has no float64, which the diffusion family's
  schedules and several metrics use, and genbench has not been run there);
* ``cpu``;
* ``cuda`` — every visible CUDA GPU: one worker per GPU in a pool, GPU 0
  otherwise (see :func:`place`); ``cuda:N`` — GPU ``N`` only;
* ``mps`` — Apple's Metal GPU, only when asked for by name (untested).

A device that is not available fails before any work starts with one line
naming it and what this machine has (:class:`DeviceError`).
"""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import dataclass

import torch

DEVICE_ENV = "GENBENCH_DEVICE"
"""Environment variable holding the default ``--device``."""

USAGE = "use auto, cpu, cuda, cuda:N or mps"

_FORM = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


class DeviceError(ValueError):
    """A device string that is malformed or names a device this machine
    lacks; the message is one line naming it and what is available."""


def cuda_count() -> int:
    """CUDA GPUs visible to this process (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def mps_available() -> bool:
    """Whether Apple's Metal (MPS) backend can run here."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Every device string this machine accepts besides ``auto`` and
    ``cuda``: ``cpu``, then ``cuda:0``... and ``mps`` where present."""
    devices = ["cpu"] + [f"cuda:{i}" for i in range(cuda_count())]
    return devices + (["mps"] if mps_available() else [])


def resolve_device(spec: str | None = None) -> str:
    """The validated device string for ``spec`` (``None``: ``$GENBENCH_DEVICE``,
    else ``auto``): ``auto`` becomes ``cuda`` or ``cpu``; the other
    forms come back normalised (lower case, no spaces).

    Raises:
        DeviceError: an unknown form, an index on ``cpu``/``mps``/``auto``, or
            a device this machine does not have.
    """
    text = (spec if spec is not None else os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    match = _FORM.match(text)
    available = ", ".join(available_devices())
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise DeviceError(f"unknown device {text!r}; {USAGE} (available here: {available})")
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        return "cuda" if cuda_count() else "cpu"
    if kind == "mps" and not mps_available():
        raise DeviceError(f"device 'mps' is not available: no Metal GPU (available: {available})")
    if kind == "cuda":
        count = cuda_count()
        if count == 0:
            raise DeviceError(
                f"device {text!r} is not available: no CUDA GPU found (available: {available})"
            )
        if index is not None and int(index) >= count:
            raise DeviceError(
                f"device {text!r} is not available: this machine has {count} CUDA "
                f"GPU{'s' if count > 1 else ''} (available: {available})"
            )
    return text


def accelerator_slots(device: str) -> int:
    """How many workers a pool places on ``device`` (a resolved string), one
    per GPU: the visible GPU count for ``cuda``, 1 for ``cuda:N`` and ``mps``,
    0 for ``cpu`` (a pool then sizes itself by CPU cores)."""
    if device == "cuda":
        return cuda_count()
    return 0 if device == "cpu" else 1


def place(device: str, slot: int | None, gpus: int) -> str:
    """The device a worker computes on: worker ``slot`` (0, 1...) of a pool
    gets ``cuda:(slot mod gpus)`` when ``device`` is ``cuda``; every other
    case (``cuda:N``, ``mps``, ``cpu``, no slot, no GPU) keeps ``device``,
    with bare ``cuda`` meaning ``cuda:0``.

    Raises:
        ValueError: a negative ``slot`` or ``gpus``.
    """
    if (slot is not None and slot < 0) or gpus < 0:
        raise ValueError(f"slot and gpus must be non-negative, got slot={slot}, gpus={gpus}")
    if device != "cuda":
        return device
    return f"cuda:{slot % gpus}" if slot is not None and gpus > 0 else "cuda:0"


@dataclass(frozen=True)
class DeviceInfo:
    """What a record says about where its run computed (provenance only:
    never part of the configuration hash).

    Attributes:
        kind: ``cpu``, ``cuda`` or ``mps``.
        name: the device as its maker names it, e.g. ``NVIDIA H200``; the
            processor for the CPU.
        index: the CUDA GPU index, ``None`` otherwise.
    """

    kind: str
    name: str
    index: int | None = None

    def to_dict(self) -> dict[str, str | int | None]:
        """The JSON form records store."""
        return {"kind": self.kind, "name": self.name, "index": self.index}


def describe(device: str | torch.device) -> DeviceInfo:
    """Kind and name of a resolved device (see :class:`DeviceInfo`)."""
    where = torch.device("cuda:0" if str(device) == "cuda" else device)
    if where.type == "cuda":
        index = where.index or 0
        return DeviceInfo("cuda", torch.cuda.get_device_name(index), index)
    if where.type == "mps":
        return DeviceInfo("mps", f"Apple Metal ({platform.machine()})")
    return DeviceInfo(where.type, cpu_name())


@functools.cache
def cpu_name() -> str:
    """The processor's model name where the OS says it, else its architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device running out of memory: torch's
    ``OutOfMemoryError`` (CUDA) or the MPS backend's ``RuntimeError``."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def out_of_memory_reason(exc: BaseException, device: str | torch.device) -> str:
    """One line for a cell that ran out of memory on ``device``: the device,
    its name and memory where known, torch's first line, and what else this
    machine offers."""
    info = describe(device)
    where = str(device) if info.index is None else f"cuda:{info.index}"
    memory = ""
    if info.kind == "cuda":
        try:
            free, total = torch.cuda.mem_get_info(info.index)
            memory = f", {free / 2**30:.1f} of {total / 2**30:.1f} GiB free"
        except RuntimeError:  # a device too broken to answer: its name suffices
            memory = ""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"{where} ({info.name}{memory}) ran out of memory: {first} "
        f"(available: {', '.join(available_devices())}; a smaller budget or batch, "
        "or another device, may fit)"
    )


def release_memory(device: str | torch.device) -> None:
    """Hand cached blocks back to the device after a failed cell, so the
    next cell starts with the memory the failure held (no-op on the CPU)."""
    kind = torch.device("cuda:0" if str(device) == "cuda" else device).type
    if kind == "cuda":
        torch.cuda.empty_cache()
    elif kind == "mps":
        torch.mps.empty_cache()
