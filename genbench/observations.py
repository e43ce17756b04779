"""Factual sentences drawn from a task's summary table, for the "What the
numbers show" section of its leaderboard. Every sentence is computed from the
numbers; none is written by hand."""

from __future__ import annotations

import pandas as pd

from genbench.markdown import escape, format_number

MEMORISATION_FLAG = 0.5
"""A model is called out when at least this fraction of its samples sit
closer to a training example than that example's own nearest neighbour /3."""


def observations(summary: pd.DataFrame) -> list[str]:
    """Sentences about the best sample quality, the noise floor, likelihood,
    sampling speed, memorisation and mode coverage, where the columns exist."""
    notes: list[str] = []
    notes += _best_fid(summary)
    notes += _best_likelihood(summary)
    notes += _speed(summary)
    notes += _memorisation(summary)
    notes += _modes(summary)
    return notes


def _name(row: pd.Series) -> str:
    return f"`{escape(row['model'])}` ({escape(row['family'])})"


def _best_fid(summary: pd.DataFrame) -> list[str]:
    if "fid" not in summary or summary["fid"].isna().all():
        return []
    models = summary[summary["family"] != "baseline"].dropna(subset=["fid"])
    pool = models if not models.empty else summary.dropna(subset=["fid"])
    best = pool.loc[pool["fid"].idxmin()]
    text = f"Best FID among {'models' if not models.empty else 'rows'}: {_name(best)} at "
    text += f"{format_number(best['fid'])}."
    floor = summary[summary["model"] == "data"]
    if not floor.empty and pd.notna(floor["fid"].iloc[0]):
        text += (
            f" Held-out real data scores {format_number(floor['fid'].iloc[0])}: "
            "the noise floor at this sample count."
        )
    return [text]


def _best_likelihood(summary: pd.DataFrame) -> list[str]:
    for column, unit in (
        ("bits_per_byte", "bits/byte"),
        ("bits_per_char", "bits/char"),
        ("bits_per_dim", "bits/dim"),
    ):
        if column in summary and summary[column].notna().any():
            rows = summary.dropna(subset=[column])
            best = rows.loc[rows[column].idxmin()]
            kind = "exact" if best["likelihood_exact"] is True else "an upper bound"
            return [
                f"Best likelihood: {_name(best)} at {format_number(best[column])} {unit} "
                f"({kind}); {len(rows)} rows report a likelihood."
            ]
    return []


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


def _modes(summary: pd.DataFrame) -> list[str]:
    column = "modes_covered"
    if column not in summary or summary[column].isna().all():
        return []
    total = summary[column].max()
    short = summary[summary[column] < total - 0.5]
    if short.empty:
        return [f"Every model covers all {format_number(total)} modes on average."]
    names = ", ".join(
        f"`{escape(r.model)}` ({format_number(getattr(r, column))})"
        for r in short.itertuples(index=False)
    )
    return [f"Fewer modes than the best ({format_number(total)}) on average: {names}."]
