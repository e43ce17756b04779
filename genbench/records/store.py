"""Where records live on disk, and reading and writing them.

One JSON file per (task, model, budget, seed) under a results directory::

    <results>/<modality>/<task>/<model>/<budget>-seed<seed>.json

A record is written only after its run has finished, by replacing a
temporary file, so an interrupted run never leaves a half-written record and
never damages the records already there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from genbench.records.jsonio import to_json, write_text_atomically
from genbench.records.record import RecordError, RunRecord


def record_path(results_dir: Path, task: str, model: str, budget: str, seed: int) -> Path:
    """Where the record of one run lives."""
    return Path(results_dir) / task / model / f"{budget}-seed{seed}.json"


def write_record(path: Path, record: RunRecord) -> Path:
    """Write ``record`` to ``path`` atomically (temp file + ``os.replace``)."""
    return write_text_atomically(path, to_json(record.to_dict(), indent=2) + "\n")


def load_record(path: Path) -> RunRecord:
    """The record at ``path``.

    Raises:
        RecordError: the file cannot be read, is not JSON, or is not a valid
            record of this schema version; the message names the file.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: unreadable record: {exc}") from exc
    try:
        return RunRecord.from_dict(data)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from exc


def read_record(path: Path) -> RunRecord | None:
    """The record at ``path``, or ``None`` when it is missing or invalid."""
    try:
        return load_record(path)
    except RecordError:
        return None


def is_complete(path: Path, expected_hash: str) -> bool:
    """True when a successful record with this configuration exists (the run
    can be skipped); failed records are retried."""
    record = read_record(path)
    return bool(record and record.config_hash == expected_hash and record.ok)


def iter_record_files(results: Path | Iterable[Path]) -> Iterator[tuple[Path, RunRecord]]:
    """``(path, record)`` for every readable record under a directory (or in
    a list of files/dirs), in path order."""
    roots = [Path(results)] if isinstance(results, (str, Path)) else [Path(p) for p in results]
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*.json"))
        for file in files:
            record = read_record(file)
            if record is not None:
                yield file, record


def iter_records(results: Path | Iterable[Path]) -> Iterator[RunRecord]:
    """Every readable record under a directory (or in a list of files/dirs)."""
    for _, record in iter_record_files(results):
        yield record
