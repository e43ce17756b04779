"""``genbench check``: compare fresh results with committed ones and flag
regressions beyond seed noise.

Records from different devices (a GPU run against committed CPU records)
agree only within their spread, never bit for bit: kernels, reduction
orders and random streams differ. The check never asks for equality, so it
applies unchanged; :func:`device_note` says when the sides' devices differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genbench.defaults import (
    REGRESSION_ABSOLUTE,
    REGRESSION_ALPHA,
    REGRESSION_K_STD,
    REGRESSION_RELATIVE,
)
from genbench.metrics.info import METRICS
from genbench.metrics.uncertainty import holm_adjusted, same_model_test
from genbench.records.record import RunRecord
from genbench.report.ranking import row_summary
from genbench.report.summary import summarise

KEYS = ["task", "model", "budget"]


@dataclass(frozen=True)
class Tolerance:
    """How much worse a metric may get before it counts as a regression:
    ``max(k · baseline std over seeds, relative · |baseline mean|, absolute)``.

    The floors keep a metric whose baseline seeds happened to agree exactly
    (std 0) from failing on noise.
    """

    k: float = REGRESSION_K_STD
    relative: float = REGRESSION_RELATIVE
    absolute: float = REGRESSION_ABSOLUTE

    def allowed(self, mean: float, std: float) -> float:
        std = 0.0 if np.isnan(std) else std
        return max(self.k * std, self.relative * abs(mean), self.absolute)


def compare(
    fresh_runs: pd.DataFrame,
    baseline_runs: pd.DataFrame,
    *,
    tolerance: Tolerance = Tolerance(),
    alpha: float = REGRESSION_ALPHA,
    include_kinds: tuple[str, ...] = ("sample", "task", "likelihood", "reconstruction"),
) -> pd.DataFrame:
    """One row per (task, model, budget, metric) present on both sides.

    A metric regresses when it is worse than the baseline by more than the
    tolerance **and** :func:`genbench.metrics.uncertainty.same_model_test`
    (seed-to-seed and within-run variation, pooled over both sides) rejects
    equality after Holm's adjustment over every compared metric
    (:func:`~genbench.metrics.uncertainty.holm_adjusted`): the chance that a
    check of an unchanged model reports any regression is at most
    ``alpha``. It improves under the mirror conditions.

    Args:
        fresh_runs / baseline_runs: per-run frames from
            :func:`genbench.records.frame.records_to_frame`.
        alpha: level of the test.
        include_kinds: metric kinds compared; speed and timing metrics depend
            on the machine and are left out by default.

    Returns:
        Columns ``task, model, budget, metric, baseline, baseline_std, fresh,
        delta, allowed, p_value, p_adjusted, status`` where ``delta`` is
        signed so that positive means *worse*, ``p_adjusted`` is Holm's,
        and ``status`` is ``ok``, ``improved``, ``regressed``, ``failed``
        (the fresh runs of that model failed) or ``missing`` (the model is
        absent from the fresh results).
    """
    fresh = summarise(fresh_runs).set_index(KEYS) if not fresh_runs.empty else None
    base = summarise(baseline_runs).set_index(KEYS)
    rows = []
    for key, base_row in base.iterrows():
        if fresh is None or key not in fresh.index:
            rows.append(_row(key, "*", status="missing"))
            continue
        fresh_row = fresh.loc[key]
        if fresh_row["seeds"] == 0:
            rows.append(_row(key, "*", status="failed"))
            continue
        for metric, info in METRICS.items():
            if info.kind not in include_kinds or info.higher_is_better is None:
                continue
            if metric not in base_row or pd.isna(base_row.get(metric)):
                continue
            new = fresh_row.get(metric)
            if new is None or pd.isna(new):
                rows.append(_row(key, metric, baseline=base_row[metric], status="missing"))
                continue
            sign = -1.0 if info.higher_is_better else 1.0
            delta = sign * (float(new) - float(base_row[metric]))
            allowed = tolerance.allowed(float(base_row[metric]), float(base_row[f"{metric}_std"]))
            test = same_model_test(row_summary(fresh_row, metric), row_summary(base_row, metric))
            rows.append(
                _row(
                    key,
                    metric,
                    baseline=float(base_row[metric]),
                    baseline_std=float(base_row[f"{metric}_std"]),
                    fresh=float(new),
                    delta=delta,
                    allowed=allowed,
                    p_value=test.p_value,
                    status="ok",
                )
            )
    table = pd.DataFrame(
        rows,
        columns=[
            *KEYS,
            "metric",
            "baseline",
            "baseline_std",
            "fresh",
            "delta",
            "allowed",
            "p_value",
            "p_adjusted",
            "status",
        ],
    )
    table["p_adjusted"] = holm_adjusted(table["p_value"].to_numpy())
    beyond = table["delta"].abs() > table["allowed"]
    confirmed = beyond & (table["p_adjusted"] < alpha)
    table.loc[confirmed & (table["delta"] > 0), "status"] = "regressed"
    table.loc[confirmed & (table["delta"] < 0), "status"] = "improved"
    return table


def device_note(fresh: Iterable[RunRecord], baseline: Iterable[RunRecord]) -> str | None:
    """One line when ``fresh`` and ``baseline`` ran on different devices
    (kind and name, e.g. ``cuda (NVIDIA H200)`` against ``cpu (...)``),
    saying that they then agree within their spread only; ``None`` when both
    sides ran on the same devices (or either side is empty)."""
    fresh_devices = sorted({record.provenance.device_label for record in fresh})
    base_devices = sorted({record.provenance.device_label for record in baseline})
    if not fresh_devices or not base_devices or fresh_devices == base_devices:
        return None
    return (
        f"note: fresh runs on {', '.join(fresh_devices)}, baseline on {', '.join(base_devices)}; "
        "records from different devices agree within their spread only, so each metric is "
        "judged by the tolerance and the test, never by equality"
    )


def has_regression(comparison: pd.DataFrame, *, strict: bool = False) -> bool:
    """True when any metric regressed or a model's fresh runs all failed;
    with ``strict``, a model or metric missing from the fresh results too."""
    bad = {"regressed", "failed", *(["missing"] if strict else [])}
    return bool(comparison["status"].isin(bad).any())


def _row(key: tuple, metric: str, **values: object) -> dict[str, object]:
    task, model, budget = key
    nan = float("nan")
    row = {
        "task": task,
        "model": model,
        "budget": budget,
        "metric": metric,
        "baseline": nan,
        "baseline_std": nan,
        "fresh": nan,
        "delta": nan,
        "allowed": nan,
        "p_value": nan,
        "p_adjusted": nan,
    }
    row.update(values)
    return row
