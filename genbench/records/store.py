"""Where records live on disk, and reading and writing them.

One JSON file per (task, model, budget, seed) under a results directory::

    <results>/<modality>/<task>/<model>/<budget>-seed<seed>.json

A record is written only after its run has finished, by replacing a
temporary file, so an interrupted run never leaves a half-written record and
never damages the records already there. Records get the ordinary file mode
(``0o666`` less the umask).

While a run computes a cell it holds a *claim*: ``<record>.lock`` beside the
record, created exclusively (``O_EXCL``) and holding the claimant's pid,
host and start time; it is removed when the record is written. A second run
on the same results directory leaves a claimed cell alone. A claim whose
process is gone (same host, pid not running) is stale and taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from genbench.records.jsonio import file_mode, to_json, write_text_atomically
from genbench.records.record import RecordError, RunRecord

LOCK_SUFFIX = ".lock"


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


class InvalidRecords(RecordError):
    """Some files under a results directory are not valid records.

    Attributes:
        problems: one ``"<path>: <why>"`` line per bad file.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n  ".join(problems)
        super().__init__(
            f"{len(problems)} unreadable record file(s); delete them (a re-run recomputes "
            f"them) or restore them:\n  {listing}"
        )


def iter_record_files(results: Path | Iterable[Path]) -> Iterator[tuple[Path, RunRecord]]:
    """``(path, record)`` for every record under a directory (or in a list
    of files/dirs), in path order.

    Every ``*.json`` file there must be a valid record: all are read before
    the first is yielded, and a truncated, empty or foreign file raises.

    Raises:
        InvalidRecords: naming every file that is not a valid record.
    """
    roots = [Path(results)] if isinstance(results, (str, Path)) else [Path(p) for p in results]
    located: list[tuple[Path, RunRecord]] = []
    problems: list[str] = []
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*.json"))
        for file in files:
            try:
                located.append((file, load_record(file)))
            except RecordError as exc:
                problems.append(str(exc))
    if problems:
        raise InvalidRecords(problems)
    yield from located


def iter_records(results: Path | Iterable[Path]) -> Iterator[RunRecord]:
    """Every record under a directory (or in a list of files/dirs).

    Raises:
        InvalidRecords: some file there is not a valid record.
    """
    for _, record in iter_record_files(results):
        yield record


# -- claims -------------------------------------------------------------------


def lock_path(path: Path) -> Path:
    """The claim file of the record at ``path``."""
    return Path(path).with_suffix(LOCK_SUFFIX)


def claim(path: Path) -> bool:
    """Claim the cell whose record is ``path`` for this process.

    Returns ``True`` when this process now holds the claim (created, taken
    over from a dead process on this host, or already ours), ``False`` when
    another live process holds it.
    """
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode())
        except FileExistsError:
            holder = claim_holder(path)
            if holder is None and _age(lock) < 5.0:
                return False  # being written by its claimant right now
            if holder is not None and _is_ours(holder):
                return True
            if holder is not None and not _is_stale(holder):
                return False
            _remove(lock)  # stale (or unreadable: left half-written by a dead process)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(_holder_info()))
        return True
    return False


def release(path: Path) -> None:
    """Drop this process's claim on the record at ``path`` (if it holds it)."""
    holder = claim_holder(path)
    if holder is not None and _is_ours(holder):
        _remove(lock_path(path))
        with contextlib.suppress(OSError):  # only when empty: a claim leaves no directory
            Path(path).parent.rmdir()


def claim_holder(path: Path) -> dict | None:
    """Who claims the record at ``path``: ``{"pid", "host", "since"}``, or
    ``None`` when no one (or the claim file is unreadable)."""
    try:
        data = json.loads(lock_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_claimed_by_other(path: Path) -> bool:
    """True while another live process holds the claim on ``path``."""
    holder = claim_holder(path)
    if holder is None:
        return lock_path(path).exists() and _age(lock_path(path)) < 5.0  # being written
    return not _is_ours(holder) and not _is_stale(holder)


def _holder_info() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}


def _is_ours(holder: dict) -> bool:
    return holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname()


def _is_stale(holder: dict) -> bool:
    """A claim by a process on this host that no longer runs. Claims from
    other hosts are never judged stale (their pids mean nothing here)."""
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
