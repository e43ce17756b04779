"""The third-party route: pip-install the example plugin package and see it
listed and ranked, exactly as a researcher submitting a plugin would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "genbench-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    return target


def _genbench(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("GENBENCH_DISABLE_PLUGIN_AUTOLOAD", None)  # a user's machine: autoload on
    return subprocess.run(
        [sys.executable, "-m", "genbench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_installed_plugin_is_listed_and_ranked(installed: Path, tmp_path: Path):
    listing = _genbench(installed, "plugins", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    line = next(x for x in listing.stdout.splitlines() if x.startswith("example"))
    assert "genbench-example 0.1.0" in line and "log_likelihood" in line

    run = _genbench(
        installed,
        "run",
        "-m",
        "example-gmm",
        "-m",
        "gaussian",
        "-m",
        "data",
        "-t",
        "toy/ring8",
        "--budget",
        "smoke",
        "--seeds",
        "1",
        "-q",
        "--cache",
        str(tmp_path / "cache"),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    board = (tmp_path / "leaderboards" / "toy-ring8.md").read_text()
    rows = [x for x in board.splitlines() if x.startswith("| ") and "`" in x]
    models = [row.split("|")[2].strip() for row in rows]
    assert "`example-gmm`" in models and "`gaussian`" in models
    # A 25-component mixture models the 8-mode ring far better than one Gaussian.
    assert models.index("`example-gmm`") < models.index("`gaussian`")


def test_autoload_switch_hides_the_installed_plugin(installed: Path, tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(installed), "GENBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    listing = subprocess.run(
        [sys.executable, "-m", "genbench", "plugins"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listing.returncode == 0, listing.stderr
    assert not any(x.startswith("example") for x in listing.stdout.splitlines())
