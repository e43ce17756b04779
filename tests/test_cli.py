"""The command line as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from genbench.cli import main


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_listing_commands():
    plugins = _invoke("plugins")
    assert plugins.exit_code == 0
    line = next(x for x in plugins.output.splitlines() if x.startswith("baselines"))
    assert "genbench 0.1.0" in line and "register_models" in line and "sample" in line
    models = _invoke("models", "-t", "toy/ring8")
    assert models.exit_code == 0 and "gaussian" in models.output and "baseline" in models.output
    tasks = _invoke("tasks")
    assert "image/mnist" in tasks.output and "toy/grid25" in tasks.output
    metrics = _invoke("metrics")
    fid_line = next(x for x in metrics.output.splitlines() if x.startswith("fid "))
    assert "lower" in fid_line


def test_unknown_names_give_a_one_line_error(tmp_path: Path):
    result = _invoke("run", "-m", "gausian", "-t", "toy/ring8")
    assert result.exit_code == 2
    assert "unknown model 'gausian'; did you mean 'gaussian'" in result.output
    assert "Traceback" not in result.output
    result = _invoke("run", "--budget", "huge")
    assert result.exit_code == 2 and "unknown budget 'huge'; choose one of" in result.output
    # rejected before any cell is looked at, even when every record is up to date
    result = _invoke(
        "run", "-t", "toy/ring8", "--executor", "threads", "--no-leaderboard",
        "--results", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 2 and "unknown executor 'threads'" in result.output


def test_run_writes_records_and_leaderboards_then_resumes(tmp_path: Path, cache_dir: Path):
    args = [
        "run",
        "-m",
        "gaussian",
        "-m",
        "uniform",
        "-m",
        "memorizer",
        "-t",
        "toy/grid25",
        "--budget",
        "smoke",
        "--seeds",
        "2",
        "--results",
        str(tmp_path / "results"),
        "--leaderboards",
        str(tmp_path / "lb"),
        "--cache",
        str(cache_dir),
        "-q",
    ]
    first = _invoke(*args)
    assert first.exit_code == 0, first.output
    assert "6 runs written, 0 up to date, 0 failed" in first.output
    board = (tmp_path / "lb" / "toy-grid25.md").read_text()
    assert "`gaussian`" in board and "`memorizer`" in board and "modes_covered" in board
    second = _invoke(*args)
    assert "0 runs written, 6 up to date, 0 failed" in second.output
    record = json.loads(
        (tmp_path / "results" / "toy" / "grid25" / "memorizer" / "smoke-seed0.json").read_text()
    )
    assert record["metrics"]["memorisation_fraction"] > 0.9  # copies are flagged


def test_run_exits_nonzero_when_a_plugin_fails(tmp_path: Path, fake_plugins: Path, cache_dir: Path):
    result = _invoke(
        "--plugin",
        str(fake_plugins),
        "run",
        "-m",
        "fake-nan",
        "-m",
        "fake-good",
        "-t",
        "toy/ring8",
        "--budget",
        "smoke",
        "--seeds",
        "1",
        "--results",
        str(tmp_path / "r"),
        "--leaderboards",
        str(tmp_path / "lb"),
        "--cache",
        str(cache_dir),
        "-q",
    )
    assert result.exit_code == 1
    assert "1 runs written, 0 up to date, 1 failed" in result.output
    assert "plugin 'fake_plugins', hook 'sample': samples contain 1 NaN" in result.output
    board = (tmp_path / "lb" / "toy-ring8.md").read_text()
    assert "## Failed runs" in board and "`fake-good`" in board


def test_leaderboard_knows_the_metrics_plugins_register(tmp_path):
    # a fresh interpreter: only loading the plugins registers `acceptance_rate`
    import shutil
    import subprocess
    import sys

    source = Path(__file__).resolve().parents[1] / "results" / "text" / "pydoc"
    target = tmp_path / "results" / "text" / "pydoc"
    shutil.copytree(source / "transformer-speculative", target / "transformer-speculative")
    subprocess.run(
        [sys.executable, "-m", "genbench", "leaderboard", "--results", str(tmp_path / "results"),
         "--out", str(tmp_path / "lb")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    page = (tmp_path / "lb" / "text-pydoc.md").read_text()
    assert "acceptance_rate ↑" in page and "tokens_per_target_call ↑" in page


def test_an_interrupted_run_says_how_to_resume_and_exits_130(tmp_path: Path, monkeypatch):
    import genbench.run.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(genbench.run.runner, "run_grid", interrupted)
    result = _invoke("run", "-m", "gaussian", "-t", "toy/ring8", "--results", str(tmp_path), "-q")
    assert result.exit_code == 130
    assert "stopped: finished runs keep their records; the same command resumes" in result.output
