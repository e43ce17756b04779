"""Records as a pandas table: one row per run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from genbench.records.record import RunRecord

ID_COLUMNS = ("task", "model", "family", "plugin", "budget", "seed", "status")

SE_SUFFIX = "__se"
"""``<metric>__se``: the run's standard error of ``<metric>`` (from its
recorded interval; missing when the record has none)."""


def records_to_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: id columns, then every metric as its own column.

    Also adds ``description``, ``primary_metric``, ``noise_floor`` (the row
    scores held-out real data), ``likelihood_exact`` (bool or NA),
    ``n_generated``, ``n_real``, ``failure`` (``"plugin/hook: reason"``
    for failed runs) and, per metric with a recorded interval, its standard
    error as ``<metric>__se``.
    """
    rows = []
    for record in records:
        config = record.config
        row: dict[str, Any] = {
            "task": config.task,
            "model": config.model.name,
            "family": config.model.family,
            "plugin": config.model.plugin,
            "description": config.description,
            "budget": config.budget,
            "seed": config.seed,
            "status": record.status,
            "primary_metric": record.task_info.primary_metric,
            "noise_floor": config.is_noise_floor,
            "n_generated": record.counts.get("n_generated"),
            "n_real": record.counts.get("n_real"),
            "likelihood_exact": record.likelihood.exact if record.likelihood else None,
            "failure": record.failure.summary() if record.failure else "",
        }
        row.update(record.metrics)
        row.update({f"{name}{SE_SUFFIX}": i.se for name, i in record.intervals.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*ID_COLUMNS, "failure"])
    return frame.sort_values(["task", "family", "model", "budget", "seed"], ignore_index=True)
