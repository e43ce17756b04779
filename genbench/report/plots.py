"""Leaderboard figures (matplotlib, non-interactive backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def precision_recall_plot(summary: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Scatter of mean precision vs mean recall per model, with the 95 %
    interval half-widths as error bars; one colour per family. Returns
    ``path``."""
    return _model_scatter(
        summary,
        path,
        x="recall",
        y="precision",
        xlabel="recall (diversity) →",
        title=f"{title}: precision vs recall (k=3)",
        log_x=False,
    )


def vendi_precision_plot(summary: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Scatter of mean precision vs mean Vendi score (log scale) per model:
    quality against the effective number of distinct samples. Returns
    ``path``."""
    return _model_scatter(
        summary,
        path,
        x="vendi",
        y="precision",
        xlabel="Vendi score, effective distinct samples (diversity) →",
        title=f"{title}: precision vs Vendi score",
        log_x=True,
    )


def _model_scatter(
    summary: pd.DataFrame, path: Path, *, x: str, y: str, xlabel: str, title: str, log_x: bool
) -> Path:
    """One point per model at its means of ``x`` and ``y`` (``y`` a fraction
    in [0, 1]) with interval error bars, one colour per family."""
    figure, axes = plt.subplots(figsize=(6, 5), dpi=110)
    families = sorted(summary["family"].unique())
    colours = plt.get_cmap("tab10")
    for index, family in enumerate(families):
        rows = summary[summary["family"] == family]
        axes.errorbar(
            rows[x],
            rows[y],
            xerr=rows.get(f"{x}_ci"),
            yerr=rows.get(f"{y}_ci"),
            fmt="o",
            color=colours(index % 10),
            label=family,
            capsize=3,
        )
        for row in rows.itertuples(index=False):
            axes.annotate(
                row.model,
                (getattr(row, x), getattr(row, y)),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    if log_x:
        axes.set_xscale("log")
    else:
        axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(f"{y} (fidelity) →")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def compute_plot(
    points: pd.DataFrame,
    path: Path,
    *,
    metric: str,
    title: str,
    floor: float | None = None,
) -> Path:
    """The ranking ``metric`` (mean over seeds, 95 % interval as error bars)
    against training compute, one line per row through its ladder budgets
    in order, log-scaled x: training examples processed (left; rows that report
    them) and training seconds on the recorded device (right). ``points``
    come from :func:`genbench.report.compute.compute_summary`; ``floor``,
    the held-out data's value, is drawn as a dashed line. Returns ``path``."""
    figure, panels = plt.subplots(1, 2, figsize=(11, 4.6), dpi=110, sharey=True)
    colours = plt.get_cmap("tab10")
    axes_by_column = (("train_examples", "training examples processed"),
                      ("train_seconds", "training seconds (recorded device)"))  # fmt: skip
    for axes, (column, label) in zip(panels, axes_by_column, strict=True):
        for index, (model, rows) in enumerate(points.groupby("model", sort=True)):
            rows = rows.dropna(subset=[column]).sort_values("multiple")
            if rows.empty:
                continue
            axes.errorbar(
                rows[column],
                rows[metric],
                yerr=rows[f"{metric}_ci"].fillna(0.0),
                fmt="o-",
                color=colours(index % 10),
                label=f"{model} ({rows['family'].iloc[0]})",
                capsize=3,
            )
            for row in rows.itertuples(index=False):
                axes.annotate(
                    f"x{row.multiple}",
                    (getattr(row, column), getattr(row, metric)),
                    fontsize=6,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        if floor is not None:
            axes.axhline(floor, color="grey", linestyle="--", linewidth=1, label="held-out data")
        axes.set_xscale("log")
        axes.set_xlabel(f"{label} (log scale)")
        axes.grid(alpha=0.3, which="both")
    panels[0].set_ylabel(metric)
    panels[0].set_title(f"{title}: {metric} per training compute", fontsize=10)
    handles, labels = panels[1].get_legend_handles_labels()
    if handles:
        panels[1].legend(handles, labels, fontsize=7, loc="best")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
