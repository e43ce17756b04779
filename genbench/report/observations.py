"""Factual sentences drawn from a task's summary table, for the "What the
numbers show" section of its leaderboard. Every sentence is computed from the
numbers; none is written by hand."""

from __future__ import annotations

import math

import pandas as pd

from genbench.metrics.anomaly import ANOMALY_PREFIX
from genbench.metrics.data_copying import DEFAULT_LEVEL as COPYING_LEVEL
from genbench.metrics.info import METRICS
from genbench.report.markdown import escape, format_number

MEMORISATION_FLAG = 0.5
"""A model is called out when at least this fraction of its samples sit
closer to a training example than that example's own nearest neighbour /3."""


def observations(
    summary: pd.DataFrame, primary: str = "fid", noise_floor: frozenset[str] = frozenset()
) -> list[str]:
    """Sentences about the best sample quality by ``primary`` (the metric the
    task ranks by: FID, or mode coverage on 2-D toy data, where a Fréchet
    distance sees only two moments), the noise floor (the rows named in
    ``noise_floor``, which score held-out real data), the baselines,
    likelihood, reconstruction, sampling speed, memorisation and mode
    coverage, where the columns exist."""
    notes: list[str] = []
    notes += _best_sample_quality(summary, primary, noise_floor)
    notes += _against_baselines(summary, primary, noise_floor)
    notes += _best_likelihood(summary)
    notes += _likelihood_paradox(summary)
    notes += _shifts_found_more_likely(summary)
    notes += _reconstruction(summary, primary)
    notes += _speed(summary)
    notes += _memorisation(summary)
    notes += _copying(summary)
    notes += _modes(summary)
    notes += _decoding_trade_off(summary)
    return notes


def _copying(summary: pd.DataFrame) -> list[str]:
    """Which rows the data-copying test C_T flags: mean p-value over seeds
    below the test's level (:data:`~genbench.metrics.data_copying.DEFAULT_LEVEL`)."""
    if "copying_p" not in summary or summary["copying_p"].isna().all():
        return []
    rows = summary.dropna(subset=["copying_p", "copying_ct"])
    flagged = rows[rows["copying_p"] < COPYING_LEVEL]
    text = "The data-copying test C_T (generated vs held-out distances to the training set, "
    if flagged.empty:
        text += f"level {COPYING_LEVEL}) flags no row."
    else:
        named = ", ".join(
            f"{_name(row)} (C_T {format_number(row['copying_ct'])}, "
            f"p {format_number(row['copying_p'])})"
            for _, row in flagged.iterrows()
        )
        text += f"level {COPYING_LEVEL}, mean p over seeds) flags copying by {named}"
        rest = rows[rows["copying_p"] >= COPYING_LEVEL]
        text += f"; it does not reject for the other {len(rest)} rows." if len(rest) else "."
        text += (
            " A negative C_T means samples sit closer to the training set than held-out data "
            "does: copying, or samples crowded into the densest parts of the data; "
            "authenticity and the memorisation fraction tell the two apart."
        )
    return [text]


def _name(row: pd.Series) -> str:
    return f"`{escape(row['model'])}` ({escape(row['family'])})"


def _better(primary: str) -> bool:
    return METRICS[primary].higher_is_better is True if primary in METRICS else False


def _best_index(values: pd.Series, primary: str):
    return values.idxmax() if _better(primary) else values.idxmin()


def _best_sample_quality(
    summary: pd.DataFrame, primary: str, noise_floor: frozenset[str]
) -> list[str]:
    if primary not in summary or summary[primary].isna().all():
        return []
    models = summary[summary["family"] != "baseline"].dropna(subset=[primary])
    pool = models if not models.empty else summary.dropna(subset=[primary])
    best = pool.loc[_best_index(pool[primary], primary)]
    text = f"Best {primary} among {'models' if not models.empty else 'rows'}: {_name(best)} at "
    text += f"{format_number(best[primary])}."
    floor = summary[summary["model"].isin(noise_floor)]
    if not floor.empty and pd.notna(floor[primary].iloc[0]):
        text += (
            f" Held-out real data scores {format_number(floor[primary].iloc[0])}: "
            "the reference point at this sample count."
        )
    return [text]


def _against_baselines(
    summary: pd.DataFrame, primary: str, noise_floor: frozenset[str]
) -> list[str]:
    """Models against the best baseline that neither is the held-out data
    nor copies the training set (those two bound what a sample metric can
    show)."""
    if primary not in summary or summary[primary].isna().all():
        return []
    baselines = summary[(summary["family"] == "baseline") & ~summary["model"].isin(noise_floor)]
    if "memorisation_fraction" in summary:
        baselines = baselines[~(baselines["memorisation_fraction"] >= MEMORISATION_FLAG)]
    baselines = baselines.dropna(subset=[primary])
    models = summary[summary["family"] != "baseline"].dropna(subset=[primary])
    if baselines.empty or models.empty:
        return []
    bar = baselines.loc[_best_index(baselines[primary], primary)]
    if _better(primary):
        worse = models[models[primary] <= bar[primary]]
    else:
        worse = models[models[primary] >= bar[primary]]
    reference = (
        f"the best non-copying baseline, {_name(bar)} ({primary} {format_number(bar[primary])})"
    )
    if worse.empty:
        return [f"Every model has a better {primary} than {reference}."]
    names = ", ".join(
        f"`{escape(row['model'])}` ({format_number(row[primary])})" for _, row in worse.iterrows()
    )
    return [f"Not better than {reference}: {names}."]


def _reconstruction(summary: pd.DataFrame, primary: str) -> list[str]:
    """Reconstruction error beside the rank on ``primary``, best
    reconstruction first: a model can reconstruct well and still generate
    poorly."""
    column = "recon_mse"
    if column not in summary or summary[column].isna().all():
        return []
    rows = summary.dropna(subset=[column]).sort_values(column, kind="stable")
    ranked = summary.dropna(subset=[primary]) if primary in summary else summary.iloc[:0]
    parts = []
    for _, row in rows.iterrows():
        part = f"`{escape(row['model'])}` {format_number(row[column])}"
        value = row.get(primary, float("nan"))
        if pd.notna(value) and len(ranked) > 1:
            ahead = ranked[primary] > value if _better(primary) else ranked[primary] < value
            part += f" ({primary} rank {int(ahead.sum()) + 1} of {len(ranked)})"
        parts.append(part)
    return [f"Reconstruction mean squared error, best first: {', '.join(parts)}."]


LIKELIHOOD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("bits_per_byte", "bits/byte"),
    ("bits_per_char", "bits/char"),
    ("bits_per_dim", "bits/dim"),
)
"""The likelihood a task's observations quote, first present wins."""


def _likelihood_column(summary: pd.DataFrame) -> tuple[str, str] | None:
    for column, unit in LIKELIHOOD_COLUMNS:
        if column in summary and summary[column].notna().any():
            return column, unit
    return None


def _best_likelihood(summary: pd.DataFrame) -> list[str]:
    found = _likelihood_column(summary)
    if found is None:
        return []
    column, unit = found
    rows = summary.dropna(subset=[column])
    best = rows.loc[rows[column].idxmin()]
    kind = "exact" if _is_true(best["likelihood_exact"]) else "an upper bound"
    return [
        f"Best likelihood: {_name(best)} at {format_number(best[column])} {unit} "
        f"({kind}); {len(rows)} rows report a likelihood."
    ]


def _likelihood_paradox(summary: pd.DataFrame) -> list[str]:
    """The pair of rows whose likelihood order and anomaly-AUROC order
    disagree most: row A has the better (lower) bits, row B the higher
    ``anomaly_auroc_<shift>``, by more than the two AUROC intervals' combined
    half-width (``sqrt(ci_A^2 + ci_B^2)``); the largest such AUROC gap over
    every shift. Nothing when the orders agree."""
    found = _likelihood_column(summary)
    shifts = [c for c in summary.columns if c.startswith(ANOMALY_PREFIX) and c in METRICS]
    if found is None or not shifts:
        return []
    column, unit = found
    best: tuple[float, str, pd.Series, pd.Series] | None = None
    for shift in shifts:
        rows = summary.dropna(subset=[column, shift])
        ci = rows.get(f"{shift}_ci", pd.Series(0.0, index=rows.index)).fillna(0.0)
        for a, row_a in rows.iterrows():
            for b, row_b in rows.iterrows():
                gap = row_b[shift] - row_a[shift]
                disagree = row_a[column] < row_b[column] and gap > math.hypot(ci[a], ci[b])
                if disagree and (best is None or gap > best[0]):
                    best = (gap, shift, row_a, row_b)
    if best is None:
        return []
    _, shift, a, b = best

    def auroc(row: pd.Series) -> str:
        half = row.get(f"{shift}_ci", float("nan"))
        spread = f" ± {format_number(half)}" if pd.notna(half) else ""
        return f"{format_number(row[shift])}{spread}"

    name = shift.removeprefix(ANOMALY_PREFIX).replace("_", " ")
    return [
        f"A better likelihood is not a better anomaly score: {_name(a)} has "
        f"{format_number(a[column])} {unit} against {format_number(b[column])} for {_name(b)}, "
        f"yet tells the test set from the {name} set less well "
        f"(`{shift}` {auroc(a)} against {auroc(b)})."
    ]


def _shifts_found_more_likely(summary: pd.DataFrame) -> list[str]:
    """Per shift, the rows whose ``anomaly_auroc_<shift>`` lies below 1/2 by
    more than its interval's half-width: their likelihood calls the shifted
    data more probable than the task's own test set."""
    notes = []
    for shift in [c for c in summary.columns if c.startswith(ANOMALY_PREFIX) and c in METRICS]:
        rows = summary.dropna(subset=[shift])
        half = rows.get(f"{shift}_ci", pd.Series(0.0, index=rows.index)).fillna(0.0)
        below = rows[rows[shift] + half < 0.5]
        if below.empty:
            continue
        named = ", ".join(
            f"`{escape(row['model'])}` ({format_number(row[shift])})" for _, row in below.iterrows()
        )
        who = f"every row reporting it ({named})" if len(below) == len(rows) else named
        name = shift.removeprefix(ANOMALY_PREFIX).replace("_", " ")
        notes.append(
            f"The likelihood finds the {name} set more probable than the test set itself "
            f"(`{shift}` below 0.5 beyond its interval) for {who}."
        )
    return notes


def _speed(summary: pd.DataFrame) -> list[str]:
    column = "samples_per_second"
    if column not in summary:
        return []
    rows = summary[summary["family"] != "baseline"].dropna(subset=[column])
    if len(rows) < 2:
        return []
    fast = rows.loc[rows[column].idxmax()]
    slow = rows.loc[rows[column].idxmin()]
    ratio = fast[column] / max(slow[column], 1e-12)
    return [
        f"Sampling speed spans a factor of {format_number(ratio)}: {_name(fast)} draws "
        f"{format_number(fast[column])} samples/s, {_name(slow)} "
        f"{format_number(slow[column])} samples/s."
    ]


def _memorisation(summary: pd.DataFrame) -> list[str]:
    column = "memorisation_fraction"
    if column not in summary:
        return []
    flagged = summary[summary[column] >= MEMORISATION_FLAG]
    if flagged.empty:
        return [f"No model has {MEMORISATION_FLAG:.0%} or more of its samples flagged as copies."]
    names = ", ".join(
        f"`{escape(r.model)}` ({format_number(getattr(r, column))})"
        for r in flagged.itertuples(index=False)
    )
    return [f"Flagged as copying training examples (memorisation fraction): {names}."]


MODE_COUNTS: tuple[tuple[str, str], ...] = (
    ("modes_reached", "reached (nearest mode, at any distance)"),
    ("modes_covered", "covered (within the high-quality radius)"),
)
"""The mode counts of mixture tasks and how the observations name them."""


def _modes(summary: pd.DataFrame) -> list[str]:
    """One sentence per mode count: every row at the best count, or the rows
    short of it by more than half a mode."""
    notes = []
    for column, meaning in MODE_COUNTS:
        if column not in summary or summary[column].isna().all():
            continue
        total = summary[column].max()
        short = summary[summary[column] < total - 0.5]
        if short.empty:
            notes.append(f"Every model has all {format_number(total)} modes {meaning}.")
            continue
        names = ", ".join(
            f"`{escape(r.model)}` ({format_number(getattr(r, column))})"
            for r in short.itertuples(index=False)
        )
        notes.append(f"Fewer modes {meaning} than the best ({format_number(total)}): {names}.")
    return notes


DIVERSITY_COLUMNS: tuple[str, ...] = ("distinct_2", "self_bleu", "repetition_rate")


def _decoding_trade_off(summary: pd.DataFrame) -> list[str]:
    """On text: the least and most diverse rows (distinct-2, self-BLEU,
    repetition) and the best MAUVE with its spread over k-means seeds."""
    if not set(DIVERSITY_COLUMNS) <= set(summary) or summary["distinct_2"].isna().all():
        return []
    rows = summary.dropna(subset=["distinct_2"]).sort_values("distinct_2", kind="stable")

    def describe(row: pd.Series) -> str:
        values = ", ".join(f"{c} {format_number(row[c])}" for c in DIVERSITY_COLUMNS)
        return f"`{escape(row['model'])}` ({values})"

    least = ", ".join(describe(row) for _, row in rows.head(3).iterrows())
    most = rows.iloc[-1]
    notes = [f"Least diverse samples: {least}."]
    text = f"Most diverse: {describe(most)}"
    if "precision" in summary and pd.notna(most.get("precision")):
        text += f", at a precision of {format_number(most['precision'])}"
    notes.append(text + ".")
    if "mauve_mean" in summary and summary["mauve_mean"].notna().any():
        scored = summary.dropna(subset=["mauve_mean"])
        best = scored.loc[scored["mauve_mean"].idxmax()]
        spread = best.get("mauve_std", float("nan"))
        text = f"Best MAUVE: `{escape(best['model'])}` at {format_number(best['mauve_mean'])}"
        if pd.notna(spread):
            close = scored[scored["mauve_mean"] >= best["mauve_mean"] - spread]
            others = [f"`{escape(m)}`" for m in close["model"] if m != best["model"]]
            text += f" ± {format_number(spread)} (spread over k-means seeds)"
            if others:
                text += f"; within that spread of it: {', '.join(others)}"
        notes.append(text + ".")
    return notes


def _is_true(value: object) -> bool:
    """True for ``True`` and ``numpy.bool_(True)`` (an all-boolean column
    holds the latter, which ``is True`` misses); False for NA."""
    return value is not None and value is not pd.NA and not pd.isna(value) and bool(value)
