"""The command line cannot be fooled either: bad names, corrupt records, a
check that compared nothing, leaderboards of another results directory,
tracebacks of failed runs, plugin-loading errors (findings 3, 5, 6, 7, 9)."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from genbench.cli import main


def _invoke(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)


@pytest.fixture(scope="module")
def records(tmp_path_factory, cache_dir) -> Path:
    """Smoke records of two baselines on toy/ring8, two seeds each."""
    root = tmp_path_factory.mktemp("records") / "results"
    result = _invoke(
        "run", "-m", "gaussian", "-m", "uniform", "-t", "toy/ring8", "--budget", "smoke",
        "--seeds", "2", "--results", str(root), "--cache", str(cache_dir), "--no-leaderboard",
        "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root


# -- 3. names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x" * 300, "300 characters long; the limit is 100"),
        ("../../evil", "must not contain a path separator"),
        ("a|b<script>", "may only use letters, digits"),
    ],
)
def test_invalid_model_names_from_a_plugin_are_a_one_line_error(tmp_path, name, message):
    plugin = tmp_path / "bad.py"
    plugin.write_text(
        "from genbench import ModelSpec, hookimpl\n\n"
        "@hookimpl\ndef register_models(register):\n"
        f"    register(ModelSpec(name={name!r}, family='x', modalities=('toy',)))\n"
    )
    result = _invoke("--plugin", str(plugin), "models")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: plugin 'bad'"), result.output
    assert message in lines[0]


def test_invalid_names_on_the_command_line_are_a_one_line_error():
    for name in ("../../evil", "a|b<script>", "y" * 300):
        result = _invoke("run", "-m", name, "-t", "toy/ring8")
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "unknown model" in result.output


# -- 5. corrupt records ------------------------------------------------------------


def _corrupt_copy(records: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    copy = tmp_path / "corrupt"
    shutil.copytree(records, copy)
    files = sorted(copy.rglob("*.json"))
    truncated, empty, braces = files[0], files[1], files[2]
    truncated.write_text(truncated.read_text()[:100])
    empty.write_text("")
    braces.write_text("{}")
    return copy, [truncated, empty, braces]


def test_leaderboard_names_corrupt_records_instead_of_dropping_them(records, tmp_path):
    corrupt, bad = _corrupt_copy(records, tmp_path)
    result = _invoke("leaderboard", "--results", str(corrupt), "--out", str(tmp_path / "lb"))
    assert result.exit_code == 1
    assert "3 unreadable record file(s)" in result.output
    for path in bad:
        assert str(path) in result.output


def test_check_cannot_compare_with_corrupt_records(records, tmp_path):
    corrupt, bad = _corrupt_copy(records, tmp_path)
    result = _invoke("check", "--baseline", str(records), "--results", str(corrupt))
    assert result.exit_code == 2, result.output
    assert "cannot compare" in result.output and str(bad[0]) in result.output
    result = _invoke("check", "--baseline", str(corrupt), "--results", str(records))
    assert result.exit_code == 2 and str(bad[1]) in result.output


# -- 6. a check that compared nothing ----------------------------------------------


def test_a_check_that_compared_nothing_fails(records, tmp_path):
    same = _invoke("check", "--baseline", str(records), "--results", str(records))
    assert same.exit_code == 0, same.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke("check", "--baseline", str(records), "--results", str(empty))
    assert result.exit_code == 2 and "nothing compared" in result.output
    result = _invoke(
        "check", "--baseline", str(records), "--results", str(empty), "--allow-missing"
    )
    assert result.exit_code == 2  # still nothing compared


def test_a_missing_model_fails_unless_allowed(records, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(records, partial)
    shutil.rmtree(partial / "toy" / "ring8" / "uniform")
    result = _invoke("check", "--baseline", str(records), "--results", str(partial))
    assert result.exit_code == 1 and "missing" in result.output
    result = _invoke(
        "check", "--baseline", str(records), "--results", str(partial), "--allow-missing"
    )
    assert result.exit_code == 0, result.output


# -- 7. leaderboards of another results directory ----------------------------------


def test_run_with_another_results_directory_leaves_the_committed_leaderboards_alone(
    records, tmp_path, monkeypatch, cache_dir
):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "leaderboards"
    committed.mkdir()
    (committed / "toy-ring8.md").write_text("committed\n")
    shutil.copytree(records, tmp_path / "fresh")
    result = _invoke(
        "run", "-m", "gaussian", "-m", "uniform", "-t", "toy/ring8", "--budget", "smoke",
        "--seeds", "2", "--results", "fresh", "--cache", str(cache_dir), "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (committed / "toy-ring8.md").read_text() == "committed\n"
    assert sorted(p.name for p in committed.iterdir()) == ["toy-ring8.md"]
    assert (tmp_path / "fresh-leaderboards" / "toy-ring8.md").exists()
    assert "leaderboards for 1 tasks in fresh-leaderboards/" in result.output
    result = _invoke("leaderboard", "--results", "fresh")
    assert result.exit_code == 0 and "fresh-leaderboards" in result.output


# -- 9. tracebacks, plugin loading --------------------------------------------------


def test_failed_runs_show_their_traceback(tmp_path, fake_plugins, cache_dir):
    args = [
        "--plugin", str(fake_plugins), "run", "-m", "fake-raises", "-t", "toy/ring8",
        "--budget", "smoke", "--seeds", "1", "--results", str(tmp_path / "r"),
        "--cache", str(cache_dir), "--no-leaderboard", "-q",
    ]  # fmt: skip
    result = _invoke(*args)
    assert result.exit_code == 1 and "genbench show RECORD" in result.output
    result = _invoke(*args, "--force", "--show-tracebacks")
    assert result.exit_code == 1
    assert "fake_plugins.py" in result.output and "in fit" in result.output
    record = next((tmp_path / "r").rglob("*.json"))
    shown = _invoke("show", str(record))
    assert shown.exit_code == 0
    assert "failed in plugin 'fake_plugins', hook 'fit'" in shown.output
    assert "RuntimeError: the fake plugin exploded while fitting" in shown.output


def test_an_unknown_name_in_the_allow_list_is_an_error(monkeypatch):
    monkeypatch.delenv("GENBENCH_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("GENBENCH_PLUGINS", "typo")
    result = _invoke("models")
    assert result.exit_code == 1
    assert "GENBENCH_PLUGINS names 'typo', which no installed genbench plugin has" in result.output
    assert "baselines" in result.output  # the names that exist


def test_a_broken_entry_point_names_the_escape_hatches(monkeypatch):
    import genbench.plugins

    real = importlib.metadata.entry_points
    broken = importlib.metadata.EntryPoint("broken", "no_such_module_xyz", "genbench")

    def entry_points(**kwargs):
        return [*real(**kwargs), broken]

    monkeypatch.setattr(genbench.plugins.importlib.metadata, "entry_points", entry_points)
    monkeypatch.delenv("GENBENCH_DISABLE_PLUGIN_AUTOLOAD")
    result = _invoke("models")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "plugin 'broken' (no_such_module_xyz" in result.output
    assert "GENBENCH_DISABLE_PLUGIN_AUTOLOAD=1" in result.output
    assert "GENBENCH_PLUGINS=" in result.output
