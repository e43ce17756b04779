"""The checkpoint cache handed to the ``fit`` hook.

A :class:`Checkpoint` is one slot in the cache, keyed by the harness from the
plugin's name, version and source hash (the SHA-256 of its ``.py`` files,
so an edited plugin retrains without a version bump), the training
configuration, the task's content fingerprint, the seed and the budget.
Tensors are stored with safetensors (never pickle), written atomically so an
interrupted run leaves no half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genbench.hashing import json_sha256


class Checkpoint:
    """One cache slot: ``load()`` before training, ``save()`` after.

    Args:
        directory: root of the checkpoint cache.
        key: dict describing what was trained (JSON-serialisable); its
            SHA-256 names the file.
        ignore_cached: ``load()`` returns ``None`` whatever is saved, so
            the model trains again and ``save()`` replaces the file
            (``genbench run --retrain``).
    """

    def __init__(
        self, directory: Path, key: dict[str, Any], *, ignore_cached: bool = False
    ) -> None:
        self.key = key
        self.ignore_cached = ignore_cached
        self.digest = json_sha256(key)
        self.path = Path(directory) / f"{self.digest[:2]}" / f"{self.digest}.safetensors"

    def load(self) -> dict[str, torch.Tensor] | None:
        """The saved state dict, or ``None`` when nothing was saved yet (or the
        file is unreadable, in which case it is ignored and training reruns)."""
        if self.ignore_cached or not self.path.exists():
            return None
        try:
            return load_file(str(self.path))
        except Exception:  # a torn or foreign file is a cache miss, not an error
            return None

    @property
    def info_path(self) -> Path:
        """Sidecar JSON with facts about the training run that made the file."""
        return self.path.with_suffix(".json")

    def record_training_seconds(self, seconds: float) -> None:
        """Remember how long the training that filled this slot took, so a run
        that later loads the checkpoint still reports the real training time.
        Does nothing when no checkpoint was saved."""
        if self.path.exists():
            self.info_path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.info_path, json.dumps({"train_seconds": seconds}))

    def training_seconds(self) -> float | None:
        """Seconds the original training took, if it was recorded."""
        try:
            return float(json.loads(self.info_path.read_text())["train_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, state: dict[str, torch.Tensor]) -> None:
        """Store ``state`` (name → tensor) atomically. Non-contiguous or shared
        tensors are copied first, as safetensors requires."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {name: t.detach().cpu().contiguous().clone() for name, t in state.items()}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        os.fchmod(fd, _file_mode())
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"key": json.dumps(self.key, default=str)})
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _file_mode() -> int:
    """``0o666`` less the umask: what ``open()`` would give (mkstemp gives 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.fchmod(fd, _file_mode())
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
