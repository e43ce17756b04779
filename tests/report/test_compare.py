"""``genbench compare``: per-metric verdicts from stored records, with
intervals, a p-value and clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner
from record_factory import make_record as _record

from genbench.cli import main
from genbench.metrics.uncertainty import Interval
from genbench.records import record_path, write_record
from genbench.records.frame import records_to_frame
from genbench.records.store import iter_records
from genbench.report.compare import CompareError, compare_models


def _with_interval(record, metric: str, se: float):
    value = record.metrics[metric]
    interval = Interval(value - 1.96 * se, value + 1.96 * se, se, 200, "test")
    return dataclasses.replace(record, intervals={metric: interval})


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    values = {
        "close-a": [10.0, 10.2, 9.9],
        "close-b": [10.1, 10.0, 10.2],
        "far": [20.0, 20.5, 19.8],
    }
    for model, fids in values.items():
        for seed, fid in enumerate(fids):
            record = _record(model, "gan", seed, {"fid": fid, "recall": 0.5 + seed * 0.01})
            write_record(
                record_path(root, "toy/ring8", model, "default", seed),
                _with_interval(record, "fid", 0.3),
            )
    return root


def test_a_clear_gap_is_separated_and_a_small_one_is_not(results):
    runs = records_to_frame(iter_records(results))
    far = compare_models(runs, "toy/ring8", "close-a", "far", metrics=("fid",)).iloc[0]
    assert far.verdict == "A better" and far.p_value < 1e-4
    assert far.difference == pytest.approx(10.0333 - 20.1, abs=1e-3)
    assert far.difference_low < far.difference < far.difference_high < 0
    close = compare_models(runs, "toy/ring8", "close-a", "close-b", metrics=("fid",)).iloc[0]
    assert close.verdict == "not separated" and close.p_value > 0.05
    # the bootstrap standard error (0.3) dominates the seed spread of these two
    assert close.a_ci == pytest.approx(1.959964 * 0.3 / 3**0.5, rel=1e-5)


def test_every_shared_metric_by_default(results):
    runs = records_to_frame(iter_records(results))
    table = compare_models(runs, "toy/ring8", "far", "close-a")
    assert set(table.metric) == {"fid", "recall"}
    assert table.set_index("metric").loc["fid", "verdict"] == "B better"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "far", "toy/ring8", ()), "no records for model 'nope'"),
        (("far", "close-a", "toy/grid25", ()), "no records for task 'toy/grid25'"),
        (("far", "close-a", "toy/ring8", ("kid_mean",)), r"metrics \['kid_mean'\] are not"),
    ],
)
def test_bad_questions_get_clear_errors(results, args, message):
    runs = records_to_frame(iter_records(results))
    a, b, task, metrics = args
    with pytest.raises(CompareError, match=message):
        compare_models(runs, task, a, b, metrics=metrics)


def test_compare_command_prints_the_verdict(results):
    result = CliRunner().invoke(
        main, ["compare", "close-a", "far", "-t", "toy/ring8", "--results", str(results)]
    )
    assert result.exit_code == 0, result.output
    assert "close-a (A) vs far (B) on toy/ring8" in result.output
    fid_line = next(line for line in result.output.splitlines() if line.startswith("fid"))
    assert "A better" in fid_line and "10.03 ±" in fid_line
    missing = CliRunner().invoke(
        main, ["compare", "close-a", "ghost", "-t", "toy/ring8", "--results", str(results)]
    )
    assert missing.exit_code == 1 and "no records for model 'ghost'" in missing.output
