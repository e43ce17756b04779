"""Shared fixtures. Third-party plugins installed on the machine must never
change test results, so entry-point autoloading is off for the whole suite
(genbench's own plugins still load)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

os.environ["GENBENCH_DISABLE_PLUGIN_AUTOLOAD"] = "1"
os.environ.pop("GENBENCH_PLUGINS", None)
os.environ.pop("GENBENCH_PLUGIN_FILES", None)
os.environ["GENBENCH_EXECUTOR"] = "serial"  # CLI runs stay in-process (and see the fixtures)
torch.set_num_threads(1)
threadpool_limits(limits=1)  # the same thread count as executor workers: identical bits


@pytest.fixture(scope="session")
def fake_plugins() -> Path:
    """Path of the fake plugin file (loaded with ``--plugin`` so spawned and
    Dask workers can load it too)."""
    return Path(__file__).with_name("fake_plugins.py")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint/feature cache shared by the session. Its keys are content
    hashes, so sharing it is exactly what a user's cache does; tests about
    the cache itself make their own."""
    return tmp_path_factory.mktemp("cache")
