"""Aggregate run records over seeds: the table every leaderboard, the
regression check and ``genbench compare`` are built from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genbench.metrics.info import METRICS
from genbench.metrics.uncertainty import SeedSummary, combine_seeds
from genbench.records.frame import SE_SUFFIX

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


def seed_summary(runs: pd.DataFrame, metric: str) -> SeedSummary | None:
    """``metric`` over the successful runs in ``runs`` (one model's seeds),
    combining seed-to-seed and within-run variation
    (:func:`genbench.metrics.uncertainty.combine_seeds`); ``None`` when no
    run has a value. A run without a recorded interval counts with a
    standard error of 0."""
    if metric not in runs:
        return None
    ok = runs[(runs["status"] == "ok") & runs[metric].notna()]
    if ok.empty:
        return None
    column = f"{metric}{SE_SUFFIX}"
    ses = ok[column].fillna(0.0) if column in ok else pd.Series(0.0, index=ok.index)
    return combine_seeds(ok[metric].astype(float).to_numpy(), ses.astype(float).to_numpy())


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation over seeds (ddof=1; 0 for a single seed),
    standard error and 95 % interval half-width (seed-to-seed and
    within-run variation combined, see :func:`seed_summary`) of every metric
    per (task, model, family, budget), over successful runs.

    Columns: the group columns, ``seeds`` (successful runs), ``failed``
    (failed runs), ``description``, ``primary_metric`` (the task's ranking
    metric), ``likelihood_exact``, ``n_generated``, then for each metric
    ``<metric>`` (mean), ``<metric>_std``, ``<metric>_se`` and
    ``<metric>_ci`` (half-width).
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
        table = table.join(grouped.mean()).join(grouped.std(ddof=1).fillna(0.0).add_suffix("_std"))
        table = table.join(_uncertainty(ok, keys, metrics))
    ordered = [
        "seeds",
        "failed",
        "description",
        "primary_metric",
        "likelihood_exact",
        "n_generated",
    ]
    for name in metrics:
        ordered += [name, f"{name}_std", f"{name}_se", f"{name}_ci"]
    return table[ordered].reset_index()


def _uncertainty(ok: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    rows = {}
    for key, runs in ok.groupby(keys):
        row = {}
        for metric in metrics:
            summary = seed_summary(runs, metric)
            row[f"{metric}_se"] = summary.se if summary else np.nan
            row[f"{metric}_ci"] = summary.half_width if summary else np.nan
        rows[key] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=keys)
    return frame


def _all_exact(values: pd.Series) -> object:
    known = values.dropna()
    if known.empty:
        return pd.NA
    return bool(known.astype(bool).all())
