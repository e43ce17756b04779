"""``genbench compare``: is model A better than model B on a task? Answered
from stored records, metric by metric, with intervals and a test."""

from __future__ import annotations

import pandas as pd

from genbench.metrics.info import METRICS
from genbench.metrics.uncertainty import difference_test
from genbench.report.ranking import row_summary
from genbench.report.summary import metric_columns, summarise

COLUMNS = (
    "metric",
    "a",
    "a_ci",
    "b",
    "b_ci",
    "difference",
    "difference_low",
    "difference_high",
    "p_value",
    "verdict",
)


class CompareError(ValueError):
    """The records cannot answer the question; the message says why."""


def compare_models(
    runs: pd.DataFrame,
    task: str,
    model_a: str,
    model_b: str,
    *,
    metrics: tuple[str, ...] = (),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per metric both models report on ``task`` (or those named):
    each side's mean over seeds and interval half-width, the difference
    ``A − B`` with its 95 % interval, the two-sided p-value of
    :func:`genbench.metrics.uncertainty.difference_test`, and a verdict:
    ``"A better"``, ``"B better"``, ``"not separated"`` (p ≥ ``alpha``) or
    ``"differ"`` (for metrics without a better direction).

    Raises:
        CompareError: an unknown task or model (with the ones available), a
            model without successful runs, or a named metric neither reports.
    """
    on_task = runs[runs["task"] == task] if not runs.empty else runs
    if on_task.empty:
        known = sorted(runs["task"].unique()) if not runs.empty else []
        raise CompareError(f"no records for task {task!r} (tasks with records: {known})")
    summary = summarise(on_task).set_index("model")
    for name in (model_a, model_b):
        if name not in summary.index:
            raise CompareError(
                f"no records for model {name!r} on {task} (models: {sorted(summary.index)})"
            )
        if int(summary.loc[name, "seeds"]) == 0:
            raise CompareError(f"model {name!r} has no successful run on {task}")
    a, b = summary.loc[model_a], summary.loc[model_b]
    shared = [m for m in metric_columns(summary) if pd.notna(a.get(m)) and pd.notna(b.get(m))]
    unknown = [m for m in metrics if m not in shared]
    if unknown:
        raise CompareError(f"metrics {unknown} are not reported by both models (both: {shared})")
    rows = []
    for metric in metrics or shared:
        left, right = row_summary(a, metric), row_summary(b, metric)
        test = difference_test(left, right)
        rows.append(
            {
                "metric": metric,
                "a": left.mean,
                "a_ci": left.half_width,
                "b": right.mean,
                "b_ci": right.half_width,
                "difference": test.estimate,
                "difference_low": test.low,
                "difference_high": test.high,
                "p_value": test.p_value,
                "verdict": _verdict(metric, test.estimate, test.separated(alpha)),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _verdict(metric: str, difference: float, separated: bool) -> str:
    if not separated:
        return "not separated"
    better = METRICS[metric].higher_is_better
    if better is None:
        return "differ"
    return "A better" if (difference > 0) == better else "B better"
