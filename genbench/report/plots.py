"""Leaderboard figures (matplotlib, non-interactive backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def precision_recall_plot(summary: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Scatter of mean precision vs mean recall per model, with seed std as
    error bars; one colour per family. Returns ``path``."""
    figure, axes = plt.subplots(figsize=(6, 5), dpi=110)
    families = sorted(summary["family"].unique())
    colours = plt.get_cmap("tab10")
    for index, family in enumerate(families):
        rows = summary[summary["family"] == family]
        axes.errorbar(
            rows["recall"],
            rows["precision"],
            xerr=rows.get("recall_ci"),
            yerr=rows.get("precision_ci"),
            fmt="o",
            color=colours(index % 10),
            label=family,
            capsize=3,
        )
        for row in rows.itertuples(index=False):
            axes.annotate(
                row.model,
                (row.recall, row.precision),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("recall (diversity) →")
    axes.set_ylabel("precision (fidelity) →")
    axes.set_title(f"{title}: precision vs recall (k=3)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
