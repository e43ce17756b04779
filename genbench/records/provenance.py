"""Where a result came from: library versions, git commit, host facts."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path

import torch

from genbench import __version__
from genbench.devices import describe
from genbench.records.record import Provenance

TRACKED_DISTRIBUTIONS = (
    "genbench",
    "torch",
    "torchvision",
    "torch-fidelity",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "pluggy",
)


@functools.cache
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that can change a number."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@functools.cache
def git_commit(start: str) -> str | None:
    """The commit of the git checkout holding ``start``, with ``-dirty``
    appended when it has uncommitted changes; ``None`` outside a checkout or
    without git."""
    where = Path(start)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = "-dirty" if status.returncode == 0 and status.stdout.strip() else ""
    return commit.stdout.strip() + dirty


def source_commits() -> dict[str, str | None]:
    """Commits of genbench's own source (when installed from a checkout) and
    of the working directory (where a user's plugins usually live)."""
    return {
        "genbench": git_commit(str(Path(__file__).resolve().parent)),
        "working_directory": git_commit(str(Path.cwd())),
    }


def host() -> dict[str, str | int]:
    """Machine facts that explain timings."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
    }


def collect_provenance(
    started: datetime,
    finished: datetime,
    checkpoint: str | None,
    device: str | torch.device = "cpu",
) -> Provenance:
    """The provenance of a run that ran from ``started`` to ``finished``
    (UTC) on ``device`` with the trained network keyed ``checkpoint``. The
    device is provenance only, never part of the configuration hash."""
    return Provenance(
        genbench_version=__version__,
        git_commit=source_commits(),
        libraries=library_versions(),
        host=host(),
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        checkpoint=checkpoint,
        device=describe(device).to_dict(),
    )
