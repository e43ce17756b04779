"""Quality per compute from fabricated records: which runs are on the
ladder, the summary per (row, rung), the table, plot and sentences, and the
leaderboard section they make (main tables left at ``default``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from record_factory import make_record

from genbench.records import record_path, write_record
from genbench.records.frame import records_to_frame
from genbench.report.compute import (
    compute_observations,
    compute_summary,
    compute_table,
    has_ladder,
    is_upper_rung,
    ladder_multiple,
    train_examples_frame,
)
from genbench.report.leaderboard import build_leaderboards

# model -> family, {budget: ((fid seed 0, fid seed 1), train seconds, train examples)}
LADDER = {
    "fast": ("vae", {
        "default": ((20.0, 40.0), 1.0, 100), "default-x2": ((15.0, 15.0), 2.0, 200),
        "default-x4": ((12.0, 12.0), 4.0, 400),
    }),
    "slow": ("diffusion", {
        "default": ((50.0, 50.0), 3.0, 50), "default-x2": ((10.0, 10.0), 6.0, 100),
        "default-x4": ((5.0, 5.0), 12.0, 200),
    }),
}  # fmt: skip


def _records():
    records = []
    for model, (family, rungs) in LADDER.items():
        for budget, (fids, seconds, examples) in rungs.items():
            for seed, fid in enumerate(fids):
                metrics = {"fid": fid, "train_seconds": seconds}
                info = {"train_examples": float(examples), "parameters": 10.0}
                records.append(
                    make_record(model, family, seed, metrics, budget=budget, model_info=info)
                )
    records += [make_record("data", "baseline", s, {"fid": 0.5}) for s in (0, 1)]
    records.append(make_record("gaussian", "baseline", 0, {"fid": 80.0, "train_seconds": 0.1}))
    return records


@pytest.fixture
def points() -> pd.DataFrame:
    records = _records()
    frame = records_to_frame(records).merge(
        train_examples_frame(records), on=["task", "model", "budget", "seed"], how="left"
    )
    return compute_summary(frame, "fid")


def test_which_budgets_are_on_the_ladder():
    assert [ladder_multiple(b) for b in ("default", "default-x2", "smoke", "full", "x")] == [
        1, 2, None, None, None,
    ]  # fmt: skip
    assert [is_upper_rung(b) for b in ("default", "default-x8", "smoke")] == [False, True, False]


def test_summary_per_row_and_rung(points: pd.DataFrame):
    assert has_ladder(points)
    assert list(zip(points["model"], points["budget"], strict=True)) == [
        ("fast", "default"),
        ("fast", "default-x2"),
        ("fast", "default-x4"),
        ("slow", "default"),
        ("slow", "default-x2"),
        ("slow", "default-x4"),
    ]  # fmt: skip  (neither the held-out data nor the closed-form gaussian trains)
    fast = points[points["model"] == "fast"].set_index("budget")
    assert fast["fid"].tolist() == [30.0, 15.0, 12.0]
    assert fast["train_examples"].tolist() == [100.0, 200.0, 400.0]
    assert fast["train_seconds"].tolist() == [1.0, 2.0, 4.0]
    assert fast["multiple"].tolist() == [1, 2, 4]
    # fid 20, 40: se = 10, half-width t(0.975, 1 df) × 10
    assert fast.loc["default", "fid_ci"] == pytest.approx(127.062, abs=1e-3)
    assert not has_ladder(points[points["budget"] == "default"])


def test_table_and_observations(points: pd.DataFrame):
    text = compute_table(points, "fid")
    assert text.splitlines()[0] == (
        "| model | family | budget | seeds | train examples | train s | fid ↓ |"
    )
    assert "| `fast` | vae | default | 2 | 100 | 1 | 30 ± 127.1 |" in text
    assert "| `slow` | diffusion | default-x4 | 2 | 200 | 12 | 5 |" in text
    assert "`gaussian`" not in text
    notes = compute_observations(points, "fid")
    assert notes[0] == (
        "Best `fid` at each budget of the ladder: default: `fast` (30 ± 127.1, 2 rows); "
        "default-x2: `slow` (10, 2 rows); default-x4: `slow` (5, 2 rows)."
    )
    # by seconds: fast 30 at 1 s, fast improves, slow 10 at 6 s
    assert notes[1].endswith(
        "from 1 s `fast` (default, 30 ± 127.1); from 6 s `slow` (default-x2, 10)."
    )
    assert notes[2] == (
        "`fid` from each row's cheapest to its dearest budget: `fast` 30 ± 127.1 at default → "
        "12 at default-x4; `slow` 50 at default → 5 at default-x4."
    )
    assert compute_observations(points[points["budget"] == "default"], "fid") == []


def test_leaderboard_section_and_main_tables_at_default(tmp_path: Path):
    root = tmp_path / "results"
    for record in _records():
        config = record.config
        write_record(
            record_path(root, config.task, config.model.name, config.budget, config.seed), record
        )
    files = build_leaderboards(root, tmp_path / "lb")
    page = files[0].markdown.read_text()
    main, section = page.split("## Quality per compute")
    assert "Budget: default." in main and "default-x2" not in main
    assert "| `fast` | vae | 2 |" in main  # the default row, no budget column
    assert "![quality per compute](toy-ring8/quality-per-compute.png)" in section
    assert (tmp_path / "lb" / "toy-ring8" / "quality-per-compute.png").stat().st_size > 1000
    assert "Reproduce: `genbench run -t toy/ring8 --budget-sweep 1,2,4 --seeds 2`." in section
    csv = pd.read_csv(tmp_path / "lb" / "toy-ring8-compute.csv")
    assert csv.loc[csv["model"] == "slow", "fid"].tolist() == [50.0, 10.0, 5.0]
    # one rung asked for: its rows in the main tables, the section unchanged
    page = build_leaderboards(root, tmp_path / "x2", budget="default-x2")[0].markdown.read_text()
    main = page.split("## Quality per compute")[0]
    assert "Budget: default-x2." in main and "| `slow` | diffusion | 2 | 10 |" in main


def test_a_task_without_a_ladder_has_no_section(tmp_path: Path):
    root = tmp_path / "results"
    stale = tmp_path / "lb" / "toy-ring8-compute.csv"
    stale.parent.mkdir()
    stale.write_text("from an earlier build\n")
    for record in _records():
        if record.config.budget == "default":
            config = record.config
            path = record_path(root, config.task, config.model.name, "default", config.seed)
            write_record(path, record)
    page = build_leaderboards(root, tmp_path / "lb")[0].markdown.read_text()
    assert "Quality per compute" not in page
    assert not (tmp_path / "lb" / "toy-ring8-compute.csv").exists()


def test_the_reproduce_line_gives_each_rungs_seeds(tmp_path: Path):
    # the upper rungs hold seed 0 only, as in the committed sweep
    root = tmp_path / "results"
    for record in _records():
        config = record.config
        if config.budget != "default" and config.seed != 0:
            continue
        write_record(
            record_path(root, config.task, config.model.name, config.budget, config.seed), record
        )
    page = build_leaderboards(root, tmp_path / "lb")[0].markdown.read_text()
    assert (
        "Reproduce: `genbench run -t toy/ring8 --budget-sweep 1 --seeds 2` and "
        "`genbench run -t toy/ring8 --budget-sweep 2,4 --seeds 1`."
    ) in page
