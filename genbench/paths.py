"""Where genbench keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GENBENCH_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$GENBENCH_CACHE_DIR`` if set, else ``~/.cache/genbench``: holds
    checkpoints, features, prepared references and synthesised datasets."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "genbench")
