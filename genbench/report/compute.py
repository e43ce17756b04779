"""Quality per compute: a task's runs on the budget ladder (``default``,
``default-x2``, ``default-x4``...) as a table, a plot and sentences.

Two measures of a run's training compute are used:

* ``train_seconds``: seconds the ``fit`` hook took when it trained the
  checkpoint, on the device the record names (a cached checkpoint reports
  the seconds of the run that trained it);
* ``train_examples``: training examples processed, as the plugin reports it
  in ``model_info`` (the families plugin: optimiser steps × batch size from
  the resolved hyper-parameters, × critic steps for a GAN; see
  ``docs/families.md``). Device-independent; missing for a plugin that
  does not report it.

Nothing here runs a model.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from genbench.metrics.info import METRICS
from genbench.records.record import RunRecord
from genbench.report.markdown import escape, format_cell, format_number, table
from genbench.report.summary import summarise
from genbench.specs import LADDER_BASE, parse_budget

TRAIN_EXAMPLES = "train_examples"
"""The ``model_info`` key (and column) of training examples processed."""

TRAIN_SECONDS = "train_seconds"
"""The metric (and column) of training seconds on the recorded device."""


def ladder_multiple(budget: str) -> int | None:
    """``K`` for a budget on the ladder (1 for ``default``, ``K`` for
    ``default-xK``); ``None`` for ``smoke``, ``full`` and names that are
    not budgets."""
    try:
        base, multiple = parse_budget(budget)
    except ValueError:
        return None
    return multiple if base == LADDER_BASE else None


def is_upper_rung(budget: str) -> bool:
    """True for a ladder rung above ``default`` (``default-x2`` and up): the
    runs the main leaderboard tables leave to the quality-per-compute
    section."""
    multiple = ladder_multiple(budget)
    return multiple is not None and multiple > 1


def train_examples_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per record that reports ``train_examples`` in its
    ``model_info``: columns ``task, model, budget, seed, train_examples``
    (to merge into :func:`~genbench.records.frame.records_to_frame`'s
    table)."""
    rows = [
        {
            "task": r.config.task,
            "model": r.config.model.name,
            "budget": r.config.budget,
            "seed": r.config.seed,
            TRAIN_EXAMPLES: float(r.model_info[TRAIN_EXAMPLES]),
        }
        for r in records
        if TRAIN_EXAMPLES in r.model_info
    ]
    return pd.DataFrame(rows, columns=["task", "model", "budget", "seed", TRAIN_EXAMPLES])


def compute_summary(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One task's runs on the ladder summarised per (model, rung).

    ``runs`` holds one task's rows of
    :func:`~genbench.records.frame.records_to_frame`, optionally with a
    ``train_examples`` column (see :func:`train_examples_frame`); rows off
    the ladder (``smoke``, ``full``) and noise-floor rows are ignored, and
    so are rows that do not train: present at one rung only and reporting
    no training examples (closed-form and copying baselines, whose quality
    is not bought with compute).

    Returns:
        Columns ``model, family, budget, multiple, seeds, train_examples,
        train_seconds, <metric>, <metric>_ci`` (means over successful seeds;
        ``_ci`` the half-width of the 95 % interval of
        :func:`~genbench.report.summary.summarise`), sorted by model and
        multiple; empty when no successful run has ``metric``.
    """
    columns = ["model", "family", "budget", "multiple", "seeds", TRAIN_EXAMPLES, TRAIN_SECONDS]
    columns += [metric, f"{metric}_ci"]
    multiples = runs["budget"].map(ladder_multiple)
    floor = runs["noise_floor"].astype(bool) if "noise_floor" in runs else False
    on_ladder = runs[multiples.notna() & ~floor]
    if on_ladder.empty or metric not in on_ladder or on_ladder[metric].isna().all():
        return pd.DataFrame(columns=columns)
    summary = summarise(on_ladder)
    summary = summary[summary["seeds"] > 0].dropna(subset=[metric])
    summary = summary.assign(multiple=summary["budget"].map(ladder_multiple).astype(int))
    ok = on_ladder[on_ladder["status"] == "ok"]
    for column in (TRAIN_EXAMPLES, TRAIN_SECONDS):
        if column in ok:
            means = ok.groupby(["model", "budget"])[column].mean().rename(f"{column}_mean")
            summary = summary.drop(columns=[column], errors="ignore")
            summary = summary.join(means, on=["model", "budget"]).rename(
                columns={f"{column}_mean": column}
            )
        else:
            summary = summary.assign(**{column: np.nan})
    summary = summary.assign(**{f"{metric}_ci": summary.get(f"{metric}_ci", np.nan)})
    rungs = summary.groupby("model")["multiple"].transform("nunique")
    summary = summary[summary[TRAIN_EXAMPLES].notna() | (rungs > 1)]
    return summary[columns].sort_values(["model", "multiple"], ignore_index=True)


def has_ladder(points: pd.DataFrame) -> bool:
    """True when ``points`` (from :func:`compute_summary`) hold more than
    one rung: the condition for a quality-per-compute section."""
    return not points.empty and points["multiple"].nunique() > 1


def compute_table(points: pd.DataFrame, metric: str) -> str:
    """The Markdown table of ``points``: one line per (model, rung) with its
    compute and ``metric`` ± its interval half-width."""
    arrow = {True: " ↑", False: " ↓", None: ""}[_higher(metric)]
    header = ["model", "family", "budget", "seeds", "train examples", "train s"]
    header.append(f"{escape(metric)}{arrow}")
    rows = [
        [
            f"`{escape(row['model'])}`",
            escape(row["family"]),
            escape(row["budget"]),
            str(int(row["seeds"])),
            _count(row[TRAIN_EXAMPLES]),
            format_cell(row[TRAIN_SECONDS], None),
            _value(row, metric),
        ]
        for _, row in points.iterrows()
    ]
    return table(rows, header)


def compute_observations(points: pd.DataFrame, metric: str) -> list[str]:
    """Sentences drawn from ``points``: which row leads at each rung, which
    leads as training seconds grow (the best of every row's points at or
    below that compute), and each row's change from its cheapest to its
    dearest rung. Empty when fewer than two rungs are present."""
    if not has_ladder(points):
        return []
    notes = [_leaders_per_rung(points, metric)]
    frontier = _frontier(points, metric)
    if frontier:
        notes.append(frontier)
    changes = _changes(points, metric)
    if changes:
        notes.append(changes)
    return notes


def _higher(metric: str) -> bool | None:
    return METRICS[metric].higher_is_better if metric in METRICS else False


def _best(rows: pd.DataFrame, metric: str) -> pd.Series:
    values = rows[metric].astype(float)
    return rows.loc[values.idxmax() if _higher(metric) else values.idxmin()]


def _count(value: float) -> str:
    """A count with thousands separators (``–`` when missing)."""
    return "–" if pd.isna(value) else f"{round(float(value)):,}"


def _value(row: pd.Series, metric: str) -> str:
    return format_cell(row[metric], row[f"{metric}_ci"])


def _leaders_per_rung(points: pd.DataFrame, metric: str) -> str:
    parts = []
    for _, rows in points.groupby("multiple", sort=True):
        best = _best(rows, metric)
        parts.append(
            f"{escape(best['budget'])}: `{escape(best['model'])}` ({_value(best, metric)}, "
            f"{len(rows)} rows)"
        )
    return f"Best `{escape(metric)}` at each budget of the ladder: {'; '.join(parts)}."


def _frontier(points: pd.DataFrame, metric: str) -> str | None:
    """Leaders along training seconds: walking the points cheapest first,
    the row holding the best value so far, each time it changes."""
    timed = points.dropna(subset=[TRAIN_SECONDS]).sort_values(TRAIN_SECONDS, kind="stable")
    if timed.empty:
        return None
    higher = _higher(metric)
    best_value, leader, steps = None, None, []
    for _, row in timed.iterrows():
        value = float(row[metric])
        better = best_value is None or (value > best_value if higher else value < best_value)
        if not better:
            continue
        best_value = value
        if row["model"] != leader:
            leader = row["model"]
            steps.append(
                f"from {format_number(float(row[TRAIN_SECONDS]))} s `{escape(leader)}` "
                f"({escape(row['budget'])}, {_value(row, metric)})"
            )
    return (
        f"Leader by `{escape(metric)}` as training seconds grow (the best of all rows' runs "
        f"at or below that compute, on the recorded devices): {'; '.join(steps)}."
    )


def _changes(points: pd.DataFrame, metric: str) -> str | None:
    parts = []
    for model, rows in points.groupby("model", sort=True):
        if len(rows) < 2:
            continue
        rows = rows.sort_values("multiple")
        first, last = rows.iloc[0], rows.iloc[-1]
        parts.append(
            f"`{escape(model)}` {_value(first, metric)} at {escape(first['budget'])} → "
            f"{_value(last, metric)} at {escape(last['budget'])}"
        )
    if not parts:
        return None
    return f"`{escape(metric)}` from each row's cheapest to its dearest budget: {'; '.join(parts)}."
