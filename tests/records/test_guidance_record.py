"""The optional ``guidance`` field of a run record: committed records,
with and without a sweep, re-serialise byte for byte, and a record with a
sweep round-trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from genbench.metrics.uncertainty import Interval
from genbench.records import RecordError, RunRecord, load_record
from genbench.records.jsonio import to_json
from genbench.records.record import GuidancePoint

RESULTS = Path(__file__).resolve().parents[2] / "results"
COMMITTED = sorted(RESULTS.rglob("*-seed0.json"))
SWEPT = [RESULTS / "image/mnist/flow-matching-cfg/default-seed0.json"]
"""A committed record with guidance points (each with an Inception Score)."""


def _stored(record: RunRecord) -> str:
    """The text :func:`genbench.records.write_record` writes."""
    return to_json(record.to_dict(), indent=2) + "\n"


@pytest.mark.parametrize("path", [*COMMITTED[:: max(1, len(COMMITTED) // 12)], *SWEPT], ids=str)
def test_committed_records_reserialise_byte_identically(path):
    record = load_record(path)
    assert _stored(record) == path.read_text()


def test_a_committed_sweep_has_every_point_with_its_metrics():
    record = load_record(SWEPT[0])
    assert [point.guidance for point in record.guidance] == [0.0, 1.0, 2.0, 4.0]
    expected = {"fid", "precision", "recall", "inception_score_mean", "class_accuracy"}
    for point in record.guidance:
        assert set(point.metrics) == set(point.intervals) == expected


def _point(w: float) -> GuidancePoint:
    interval = Interval(0.5, 0.7, 0.05, 0, "Wilson score interval")
    return GuidancePoint(
        guidance=w,
        metrics={"fid": 3.0 + w, "precision": 0.8, "recall": 0.6, "class_accuracy": 0.6},
        intervals={"class_accuracy": interval},
    )


def test_a_record_with_guidance_points_round_trips():
    record = load_record(COMMITTED[0])
    swept = dataclasses.replace(record, guidance=(_point(0.0), _point(4.0)))
    data = swept.to_dict()
    assert [p["guidance"] for p in data["guidance"]] == [0.0, 4.0]
    assert data["guidance"][1]["metrics"]["fid"] == 7.0
    again = RunRecord.from_dict(data)
    assert again == swept and _stored(again) == _stored(swept)


def test_a_malformed_guidance_point_is_a_clear_error():
    data = load_record(COMMITTED[0]).to_dict()
    data["guidance"] = [{"guidance": 1.0, "metrics": {"fid": 2.0}}]
    with pytest.raises(RecordError, match="malformed record: KeyError: 'intervals'"):
        RunRecord.from_dict(data)
