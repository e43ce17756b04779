"""Run records: the typed configuration and record, their JSON form,
atomic storage, provenance, and loading into pandas."""

from genbench.records.config import RunConfig, config_hash
from genbench.records.record import SCHEMA_VERSION, RecordError, RunRecord
from genbench.records.store import (
    InvalidRecords,
    claim,
    is_complete,
    iter_record_files,
    iter_records,
    load_record,
    read_record,
    record_path,
    release,
    write_record,
)

__all__ = [
    "SCHEMA_VERSION",
    "InvalidRecords",
    "RecordError",
    "RunConfig",
    "RunRecord",
    "claim",
    "config_hash",
    "is_complete",
    "iter_record_files",
    "iter_records",
    "load_record",
    "read_record",
    "record_path",
    "release",
    "write_record",
]
