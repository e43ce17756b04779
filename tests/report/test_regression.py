"""``genbench check``: regressions beyond seed noise fail; noise does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from genbench.cli import main
from genbench.report.regression import Tolerance, compare, has_regression


def _runs(model: str, fids: list[float], recalls: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": "toy/ring8",
            "model": model,
            "family": "fake",
            "plugin": "p",
            "description": "",
            "budget": "smoke",
            "seed": range(len(fids)),
            "status": "ok",
            "n_generated": 200,
            "n_real": 200,
            "likelihood_exact": True,
            "failure": "",
            "fid": fids,
            "recall": recalls,
        }
    )


def test_tolerance_is_k_standard_deviations_with_floors():
    tol = Tolerance(k=3, relative=0.05, absolute=1e-3)
    assert tol.allowed(10.0, 1.0) == 3.0
    assert tol.allowed(10.0, 0.0) == 0.5
    assert tol.allowed(0.0, 0.0) == 1e-3


def test_compare_flags_only_worsening_beyond_tolerance():
    base = _runs("m", [10.0, 11.0, 12.0], [0.5, 0.52, 0.48])  # fid std 1, recall std 0.02
    noisy = _runs("m", [13.5, 13.5, 13.5], [0.44, 0.44, 0.44])  # +2.5 fid < 3 std, -0.06 ok
    table = compare(noisy, base)
    assert set(table["status"]) == {"ok"}
    assert not has_regression(table)
    worse = _runs("m", [14.5, 14.5, 14.5], [0.40, 0.40, 0.40])
    table = compare(worse, base).set_index("metric")
    assert table.loc["fid", "status"] == "regressed"
    assert table.loc["fid", "delta"] == pytest.approx(3.5)
    assert table.loc["recall", "status"] == "regressed"  # higher is better: a drop is worse
    assert table.loc["recall", "delta"] == pytest.approx(0.1)
    better = _runs("m", [5.0, 5.0, 5.0], [0.5, 0.5, 0.5])
    assert compare(better, base).set_index("metric").loc["fid", "status"] == "improved"


def test_a_worsening_the_test_cannot_confirm_is_not_a_regression():
    base = _runs("m", [10.0, 10.0, 10.0], [0.5, 0.5, 0.5]).assign(fid__se=4.0)
    fresh = _runs("m", [12.0, 12.0, 12.0], [0.5, 0.5, 0.5]).assign(fid__se=4.0)
    row = compare(fresh, base).set_index("metric").loc["fid"]
    # +2 is beyond the 5 % floor (0.5), but each run's sample noise (se 4) hides it
    assert row["delta"] == pytest.approx(2.0) and row["allowed"] == pytest.approx(0.5)
    assert row["p_value"] > 0.4 and row["status"] == "ok"
    precise = compare(fresh.assign(fid__se=0.1), base.assign(fid__se=0.1))
    assert precise.set_index("metric").loc["fid", "status"] == "regressed"


def test_missing_and_failed_models():
    base = pd.concat([_runs("a", [1, 1], [0.5, 0.5]), _runs("b", [1, 1], [0.5, 0.5])])
    fresh = _runs("a", [1, 1], [0.5, 0.5])
    table = compare(fresh, base)
    assert table.set_index("model").loc["b", "status"] == "missing"
    assert not has_regression(table)
    assert has_regression(table, strict=True)
    failed = fresh.assign(status="failed")
    assert has_regression(compare(failed, base.iloc[:2]))


def _run_cli(args: list[str]) -> object:
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_check_command_fails_on_a_deliberately_degraded_model(
    tmp_path: Path, monkeypatch, fake_plugins: Path, cache_dir: Path
):
    cache = str(cache_dir)
    common = [
        "-m",
        "fake-good",
        "-t",
        "toy/ring8",
        "--budget",
        "smoke",
        "--seeds",
        "3",
        "--cache",
        cache,
        "--no-leaderboard",
        "-q",
    ]
    baseline = tmp_path / "baseline"
    result = _run_cli(["--plugin", str(fake_plugins), "run", *common, "--results", str(baseline)])
    assert result.exit_code == 0, result.output

    same = tmp_path / "same"
    result = _run_cli(["--plugin", str(fake_plugins), "run", *common, "--results", str(same)])
    result = _run_cli(["check", "--baseline", str(baseline), "--results", str(same)])
    assert result.exit_code == 0, result.output
    assert "no regressions" in result.output

    degraded_plugin = tmp_path / "degraded_plugins.py"
    shutil.copy(fake_plugins, degraded_plugin)
    monkeypatch.setenv("FAKE_GOOD_SCALE", "3.0")  # wider samples: worse precision, FID
    fresh = tmp_path / "fresh"
    result = _run_cli(["--plugin", str(degraded_plugin), "run", *common, "--results", str(fresh)])
    assert result.exit_code == 0, result.output
    result = _run_cli(["check", "--baseline", str(baseline), "--results", str(fresh)])
    assert result.exit_code == 1
    assert "regressed" in result.output and "fid" in result.output
