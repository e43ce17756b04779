"""Ranking a task's models: the ranking metric, the order, and rank groups
of rows that the data cannot tell apart."""

from __future__ import annotations

import itertools
import math

import pandas as pd

from genbench.metrics.info import metric_info
from genbench.metrics.uncertainty import SeedSummary, difference_test, rank_groups
from genbench.report.markdown import escape, format_number

FALLBACK_METRICS = ("fid", "bits_per_byte", "bits_per_dim")
"""Ranking metrics to fall back on, in order, when a task's declared primary
metric is missing from its records."""

RANK_ALPHA = 0.05
"""Level of the test between adjacent rows: each pair of neighbours is
declared different when the two-sided p-value is below it."""


def primary_metric(summary: pd.DataFrame) -> str | None:
    """The metric a task's rows are ranked by: the task's declared primary
    metric, else the first of :data:`FALLBACK_METRICS` present."""
    declared = summary["primary_metric"].dropna().unique() if "primary_metric" in summary else []
    candidates = [*declared, *FALLBACK_METRICS]
    return next((m for m in candidates if m in summary and summary[m].notna().any()), None)


def rank(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted best-first by the primary metric (missing values last)."""
    metric = primary_metric(summary)
    if metric is None:
        return summary.sort_values(["family", "model"], ignore_index=True)
    ascending = not metric_info(metric).higher_is_better
    return summary.sort_values(
        [metric, "family", "model"], ascending=[ascending, True, True], na_position="last"
    ).reset_index(drop=True)


def row_summary(row: pd.Series | dict, metric: str) -> SeedSummary | None:
    """A summary row's ``metric`` as a :class:`SeedSummary`, or ``None``
    when the row has no value for it. The degrees of freedom are derived:
    the seed spread set the standard error exactly when ``std² = seeds·se²``
    (see :func:`genbench.metrics.uncertainty.combine_seeds`)."""
    mean = row.get(metric)
    if mean is None or pd.isna(mean):
        return None
    seeds = int(row.get("seeds", 1))
    se, half, std = (_number(row.get(f"{metric}{suffix}")) for suffix in ("_se", "_ci", "_std"))
    from_spread = seeds > 1 and std > 0 and math.isclose(std**2, seeds * se**2, rel_tol=1e-9)
    return SeedSummary(float(mean), se, half, seeds, seeds - 1 if from_spread else math.inf)


def _number(value: object) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


def rank_labels(ranked: pd.DataFrame, metric: str | None) -> list[str]:
    """The rank shown for each row of ``ranked`` (sorted by :func:`rank`):
    ``"3"``, or ``"3–4"`` for rows that share a rank group
    (:func:`genbench.metrics.uncertainty.rank_groups` at
    :data:`RANK_ALPHA`); ``"–"`` for rows without the metric."""
    if metric is None:
        return [str(i + 1) for i in range(len(ranked))]
    summaries = [row_summary(row, metric) for _, row in ranked.iterrows()]
    scored = [s for s in summaries if s is not None]
    spans = iter(rank_groups(scored, RANK_ALPHA))
    labels = []
    for summary in summaries:
        if summary is None:
            labels.append("–")
            continue
        first, last = next(spans)
        labels.append(str(first) if first == last else f"{first}–{last}")
    return labels


def separation_sentence(ranked: pd.DataFrame, metric: str | None) -> str | None:
    """Which adjacent rows the test separates on ``metric`` and which it
    does not, with p-values; ``None`` with fewer than two scored rows."""
    if metric is None:
        return None
    rows = [
        (row["model"], summary)
        for _, row in ranked.iterrows()
        if (summary := row_summary(row, metric)) is not None
    ]
    if len(rows) < 2:
        return None
    separated, tied = [], []
    for (upper, a), (lower, b) in itertools.pairwise(rows):
        test = difference_test(a, b)
        pair = f"`{escape(upper)}` / `{escape(lower)}` (p {_p(test.p_value)})"
        (separated if test.separated(RANK_ALPHA) else tied).append(pair)
    text = (
        f"Rank groups on `{escape(metric)}`: each pair of adjacent rows is tested (two-sided, "
        f"level {RANK_ALPHA:g}, difference of the means over its combined standard error); "
        "rows the test does not separate share a rank."
    )
    text += f" Separated: {', '.join(separated)}." if separated else " No pair is separated."
    if tied:
        text += f" Not separated: {', '.join(tied)}."
    return text


def _p(value: float) -> str:
    if value < 1e-4:
        return "< 0.0001"
    return f"= {format_number(value)}" if not math.isnan(value) else "= –"
