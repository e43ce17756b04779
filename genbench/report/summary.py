"""Aggregate run records over seeds: the table every leaderboard and the
regression check are built from."""

from __future__ import annotations

import pandas as pd

from genbench.metrics.info import METRICS

GROUP_COLUMNS = ("task", "model", "family", "budget")
OPTIONAL_COLUMNS = {
    "description": "",
    "primary_metric": None,
    "likelihood_exact": None,
    "n_generated": None,
}


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Registered metric columns present in ``frame``, in registry order."""
    return [name for name in METRICS if name in frame.columns and frame[name].notna().any()]


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1; 0 for a single seed) of every
    metric per (task, model, family, budget), over successful runs.

    Columns: the group columns, ``seeds`` (successful runs), ``failed``
    (failed runs), ``description``, ``primary_metric`` (the task's ranking
    metric), ``likelihood_exact``, ``n_generated``, then
    ``<metric>`` (mean) and ``<metric>_std`` for each metric.
    """
    if frame.empty:
        return pd.DataFrame(columns=[*GROUP_COLUMNS, "seeds", "failed"])
    keys = list(GROUP_COLUMNS)
    frame = frame.assign(
        **{col: default for col, default in OPTIONAL_COLUMNS.items() if col not in frame}
    )
    ok = frame[frame["status"] == "ok"]
    metrics = metric_columns(ok)
    counts = frame.groupby(keys)["status"].agg(
        seeds=lambda s: int((s == "ok").sum()), failed=lambda s: int((s != "ok").sum())
    )
    extras = frame.groupby(keys).agg(
        description=("description", "first"),
        primary_metric=("primary_metric", "first"),
        likelihood_exact=("likelihood_exact", lambda s: _all_exact(s)),
        n_generated=("n_generated", "max"),
    )
    table = counts.join(extras)
    if metrics:
        grouped = ok.groupby(keys)[metrics]
        means = grouped.mean()
        stds = grouped.std(ddof=1).fillna(0.0).add_suffix("_std")
        table = table.join(means).join(stds)
    ordered = [
        "seeds",
        "failed",
        "description",
        "primary_metric",
        "likelihood_exact",
        "n_generated",
    ]
    for name in metrics:
        ordered += [name, f"{name}_std"]
    return table[ordered].reset_index()


def _all_exact(values: pd.Series) -> object:
    known = values.dropna()
    if known.empty:
        return pd.NA
    return bool(known.astype(bool).all())
