"""Run records: the schema, atomic writes, and loading into pandas.

One JSON file per (task, model, budget, seed) under a results directory::

    <results>/<modality>/<task>/<model>/<budget>-seed<seed>.json

A record is written only after its run has finished, by replacing a
temporary file, so an interrupted run never leaves a half-written record and
never damages the records already there.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA_VERSION = 1

ID_COLUMNS = ("task", "model", "family", "plugin", "budget", "seed", "status")


def record_path(results_dir: Path, task: str, model: str, budget: str, seed: int) -> Path:
    """Where the record of one run lives."""
    return Path(results_dir) / task / model / f"{budget}-seed{seed}.json"


PRESENTATION_KEYS: tuple[str, ...] = ("description",)
"""Configuration entries that only label a run (kept in the record, left out
of its hash): rewording a model's description must not invalidate results."""


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a run's configuration, without the
    :data:`PRESENTATION_KEYS`."""
    hashed = {key: value for key, value in config.items() if key not in PRESENTATION_KEYS}
    return hashlib.sha256(_dumps(hashed, indent=None).encode()).hexdigest()


def write_record(path: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` to ``path`` atomically (temp file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_dumps(record, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or ``None`` when missing, unreadable or of
    another schema version."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION:
        return None
    return record


def is_complete(path: Path, expected_hash: str) -> bool:
    """True when a successful record with this configuration exists (the run
    can be skipped); failed records are retried."""
    record = read_record(path)
    return bool(
        record and record.get("config_hash") == expected_hash and record.get("status") == "ok"
    )


def iter_records(results: Path | Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every readable record under a directory (or in a list of files/dirs)."""
    for _, record in iter_record_files(results):
        yield record


def iter_record_files(results: Path | Iterable[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(path, record)`` for every readable record under a directory (or in
    a list of files/dirs), in path order."""
    roots = [Path(results)] if isinstance(results, (str, Path)) else [Path(p) for p in results]
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*.json"))
        for file in files:
            record = read_record(file)
            if record is not None:
                yield file, record


def records_to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: id columns, then every metric as its own column.

    Also adds ``likelihood_exact`` (bool or NA), ``n_generated``,
    ``n_real`` and ``failure`` (``"plugin/hook: reason"`` for failed runs).
    """
    rows = []
    for record in records:
        config = record["config"]
        failure = record.get("failure")
        row: dict[str, Any] = {
            "task": config["task"],
            "model": config["model"]["name"],
            "family": config["model"]["family"],
            "plugin": config["model"]["plugin"],
            "description": config.get("description", ""),
            "budget": config["budget"],
            "seed": config["seed"],
            "status": record["status"],
            "primary_metric": record.get("task_info", {}).get("primary_metric", "fid"),
            "n_generated": record.get("counts", {}).get("n_generated"),
            "n_real": record.get("counts", {}).get("n_real"),
            "likelihood_exact": record.get("likelihood", {}).get("exact"),
            "failure": (
                f"{failure['plugin']}/{failure['hook']}: {failure['reason']}" if failure else ""
            ),
        }
        for name, value in record.get("metrics", {}).items():
            row[name] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*ID_COLUMNS, "failure"])
    return frame.sort_values(["task", "family", "model", "budget", "seed"], ignore_index=True)


def _dumps(obj: Any, indent: int | None) -> str:
    return json.dumps(_clean(obj), indent=indent, sort_keys=True, allow_nan=False)


def _clean(obj: Any) -> Any:
    """JSON has no NaN/inf: store them as null (and say so in the metric's
    documentation) rather than writing invalid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _clean(obj.item())
    return obj
