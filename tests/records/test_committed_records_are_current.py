"""Every committed record was computed by the code as it is: its stored
config hash equals the one the registry computes for its cell now, so
`genbench run` would skip it, and a change to a model's configuration
cannot leave a stale record on the leaderboards."""

from __future__ import annotations

import json
from pathlib import Path

from genbench.plugins import get_plugin_manager
from genbench.registry import Registry
from genbench.run.grid import Cell, run_config

RESULTS = Path(__file__).resolve().parents[2] / "results"


def test_every_committed_record_matches_its_configuration_now():
    registry = Registry(get_plugin_manager())
    paths = sorted(RESULTS.glob("*/*/*/*.json"))
    assert len(paths) > 300
    stale = []
    for path in paths:
        stored = json.loads(path.read_text())
        config = stored["config"]
        cell = Cell(config["model"]["name"], config["task"], config["seed"], config["budget"])
        if run_config(registry, cell).hash != stored["config_hash"]:
            stale.append(str(path.relative_to(RESULTS)))
    assert not stale, f"records computed by other code than this (rerun them): {stale}"
