"""The committed leaderboards' copying verdicts hold on every task: the
``memorizer`` baseline (which returns training examples) is flagged by the
data-copying test C_T and by authenticity, and the ``data`` baseline (held-out
real data) is not flagged by C_T."""

from __future__ import annotations

import json
from pathlib import Path

from genbench.metrics.data_copying import DEFAULT_LEVEL as COPYING_LEVEL

RESULTS = Path(__file__).resolve().parents[2] / "results"
TASKS = sorted(path for path in RESULTS.glob("*/*") if path.is_dir())


def _records(task: Path, model: str) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((task / model).glob("*-seed*.json"))]


def test_every_task_has_three_seeds_of_both_baselines():
    assert [str(t.relative_to(RESULTS)) for t in TASKS] == [
        "audio/digits",
        "image/mnist",
        "text/pydoc",
        "text/shakespeare",
        "toy/grid25",
        "toy/ring8",
    ]
    for task in TASKS:
        for model in ("data", "memorizer"):
            seeds = sorted(r["config"]["seed"] for r in _records(task, model))
            assert seeds == [0, 1, 2], (task, model)


def test_the_memorizer_is_flagged_and_held_out_data_is_not_on_every_task():
    for task in TASKS:
        for record in _records(task, "memorizer"):
            metrics = record["metrics"]
            assert metrics["copying_p"] < COPYING_LEVEL and metrics["copying_ct"] < -5, task
            assert metrics["authenticity"] < 0.05, task
        for record in _records(task, "data"):
            assert record["metrics"]["copying_p"] >= COPYING_LEVEL, task
