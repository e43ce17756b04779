"""A torch function mode that lists every tensor factory call made from a
given source folder without an explicit ``device=`` equal to the requested
device (this module holds no tests).

On a machine without a GPU a family that forgets ``device=`` still runs,
silently on the CPU; on a GPU it would fall back to the CPU or fail. The
mode catches the forgotten argument on the CPU: ``*_like`` calls, tensor
methods (``x.new_zeros``) and operations on existing tensors follow their
inputs and are not factories; ``torch.normal`` with tensor arguments follows
them too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

FACTORIES: frozenset[Callable[..., Any]] = frozenset(
    {
        torch.randn,
        torch.rand,
        torch.randint,
        torch.randperm,
        torch.zeros,
        torch.ones,
        torch.full,
        torch.empty,
        torch.arange,
        torch.linspace,
        torch.logspace,
        torch.tensor,
        torch.as_tensor,
        torch.eye,
        torch.normal,
    }
)
"""Functions that create a tensor on the default device unless told where."""

_TORCH_DIR = str(Path(torch.__file__).resolve().parent)
_THIS_FILE = str(Path(__file__).resolve())


class FactoryDeviceCheck(TorchFunctionMode):
    """Inside ``with FactoryDeviceCheck(device, watched):`` every factory call
    whose calling line lies under ``watched`` (a folder) and that lacks
    ``device=`` or names another device is listed in :attr:`offences` as
    ``"file.py:LINE torch.NAME(device=...)"``; the call itself still runs.
    :meth:`paused` suspends the check (e.g. while a model is built on the
    CPU before it moves).

    Raises:
        ValueError: ``watched`` is not a folder.
    """

    def __init__(self, device: torch.device | str, watched: Path) -> None:
        super().__init__()
        if not Path(watched).is_dir():
            raise ValueError(f"watched must be a folder, got {str(watched)!r}")
        self.device = torch.device(device)
        self.watched = str(Path(watched).resolve())
        self.offences: list[str] = []
        self._paused = 0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No checks inside the block."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self._paused and func in FACTORIES and not self._follows_inputs(func, args):
            requested = kwargs.get("device")
            if requested is None or not self._matches(torch.device(requested)):
                site = self._call_site()
                if site is not None:
                    name = getattr(func, "__name__", str(func))
                    self.offences.append(f"{site} torch.{name}(device={requested!r})")
        return func(*args, **kwargs)

    def _matches(self, device: torch.device) -> bool:
        if device.type != self.device.type:
            return False
        return device.index is None or self.device.index in (None, device.index)

    @staticmethod
    def _follows_inputs(func: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """``torch.normal(mean, std)`` and ``torch.as_tensor(tensor)`` keep
        their tensor arguments' device."""
        return func in (torch.normal, torch.as_tensor) and any(
            isinstance(a, torch.Tensor) for a in args
        )

    def _call_site(self) -> str | None:
        """``file.py:LINE`` of the first frame outside torch and this module
        when it lies under the watched folder, else ``None``."""
        frame = sys._getframe(2)
        while frame is not None:
            filename = str(Path(frame.f_code.co_filename).resolve())
            if not filename.startswith(_TORCH_DIR) and filename != _THIS_FILE:
                if not filename.startswith(self.watched):
                    return None
                relative = Path(filename).relative_to(Path(self.watched).parent)
                return f"{relative}:{frame.f_lineno}"
            frame = frame.f_back
        return None
