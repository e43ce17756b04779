"""The leaderboard's guidance sweep: section, CSV and plot from records
with guidance points; tasks without them render exactly as before."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from genbench.plugins import get_plugin_manager
from genbench.registry import Registry
from genbench.report.guidance import guidance_metrics
from genbench.report.leaderboard import build_leaderboards
from genbench.run.grid import plan_grid
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings

ROOT = Path(__file__).resolve().parents[2]
FAKE_PLUGINS = ROOT / "tests" / "fake_plugins.py"


@pytest.fixture(scope="module")
def results(tmp_path_factory, cache_dir) -> Path:
    """Smoke records: on image/digits ``fake-cond`` over two seeds and the
    ``data`` row over one; on toy/ring8 ``fake-good`` (no sweep)."""
    registry = Registry(get_plugin_manager([FAKE_PLUGINS]))
    root = tmp_path_factory.mktemp("guidance-results")
    settings = RunSettings(results_dir=root, cache_dir=cache_dir, plugin_files=(str(FAKE_PLUGINS),))
    cells = plan_grid(
        registry, models=["fake-cond"], tasks=["image/digits"], seeds=2, budget="smoke"
    )
    cells += plan_grid(registry, models=["data"], tasks=["image/digits"], seeds=1, budget="smoke")
    cells += plan_grid(registry, models=["fake-good"], tasks=["toy/ring8"], seeds=1, budget="smoke")
    report = run_grid(cells, settings, registry)
    assert len(report.written) == 4 and not report.failed
    return root


def test_the_guidance_section_csv_and_plot_are_written(results, tmp_path):
    build_leaderboards(results, tmp_path)
    page = (tmp_path / "image-digits.md").read_text()
    assert "## Guidance sweep" in page and "w = 0, 1, 2, 4" in page
    assert "![guidance sweep](image-digits/guidance.png)" in page
    assert "| data (held-out data) | 0 | 1 |" in page
    csv = pd.read_csv(tmp_path / "image-digits-guidance.csv")
    assert list(csv["model"]) == ["data"] * 4 + ["fake-cond"] * 4
    assert list(csv["guidance"]) == [0.0, 1.0, 2.0, 4.0] * 2
    assert list(csv["seeds"]) == [1] * 4 + [2] * 4
    for column in ("fid", "precision", "recall", "class_accuracy", "class_accuracy_ci"):
        assert csv[column].notna().all(), column
    for column in ("inception_score_mean", "inception_score_mean_ci"):
        assert csv[column].notna().all(), column
    assert "| model | w | seeds | fid | precision | recall | IS | class accuracy |" in page
    fake = csv[csv["model"] == "fake-cond"]
    assert fake["class_accuracy"].is_monotonic_increasing
    assert csv.loc[csv["model"] == "data", "class_accuracy"].nunique() == 1  # w is ignored
    assert (tmp_path / "image-digits" / "guidance.png").stat().st_size > 10_000
    toy = (tmp_path / "toy-ring8.md").read_text()
    assert "Guidance sweep" not in toy and not (tmp_path / "toy-ring8-guidance.csv").exists()


def test_the_guidance_plot_and_csv_are_byte_reproducible(results, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    build_leaderboards(results, first)
    build_leaderboards(results, second)
    for name in ("image-digits/guidance.png", "image-digits-guidance.csv", "image-digits.md"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_stale_guidance_csv_is_removed(results, tmp_path):
    stale = tmp_path / "toy-ring8-guidance.csv"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("old\n")
    build_leaderboards(results, tmp_path)
    assert not stale.exists()


def test_committed_leaderboards_are_unchanged(tmp_path):
    """Regenerating from the committed records (none holds a sweep) writes
    exactly the committed leaderboards."""
    committed = ROOT / "leaderboards"
    build_leaderboards(ROOT / "results", tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert written == expected
    for name in written:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


def test_each_task_shows_its_own_frechet_distance_when_tasks_share_a_frame():
    # the sweep frame of several tasks carries every task's Fréchet column;
    # an audio task's rows have an empty `fid` and must show `fad`
    runs = pd.DataFrame(
        [
            {"task": "image/mnist", "fid": 30.0, "fad": None},
            {"task": "audio/digits", "fid": None, "fad": 120.0},
        ]
    )
    audio = runs[runs["task"] == "audio/digits"]
    image = runs[runs["task"] == "image/mnist"]
    assert guidance_metrics(audio) == ["fad", "precision", "recall", "class_accuracy"]
    assert guidance_metrics(image) == ["fid", "precision", "recall", "class_accuracy"]


def test_the_inception_score_is_shown_where_the_points_have_it():
    runs = pd.DataFrame(
        [
            {"task": "image/mnist", "fid": 30.0, "inception_score_mean": 6.5},
            {"task": "image/mnist", "fid": 31.0, "inception_score_mean": None},
        ]
    )
    assert guidance_metrics(runs) == [
        "fid",
        "precision",
        "recall",
        "inception_score_mean",
        "class_accuracy",
    ]
    assert "inception_score_mean" not in guidance_metrics(runs.iloc[1:])
