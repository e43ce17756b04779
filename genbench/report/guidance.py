"""The leaderboard's guidance sweep: per model and guidance scale, the mean
over seeds of the Fréchet distance, precision, recall, classifier
Inception Score and class accuracy of class-conditional samples (from the
records' ``guidance`` points), as a Markdown section, a CSV and one
quality–diversity plot."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from genbench.records.frame import SE_SUFFIX
from genbench.records.record import RunRecord
from genbench.report.markdown import escape, format_cell, format_number, table
from genbench.report.summary import seed_summary

KEYS = ("task", "model", "family", "budget", "seed")
"""The columns that identify a run in :func:`guidance_runs`."""
GROUP = ("task", "model", "family", "budget", "noise_floor", "guidance")
"""One summary row per model, budget and guidance scale."""
FRECHET = ("fid", "fad")
"""The names a task's Fréchet distance is recorded under."""
INCEPTION = "inception_score_mean"
"""The classifier Inception Score of a guidance point (records written
before it was part of the sweep lack it)."""
HEADERS = {INCEPTION: "IS", "class_accuracy": "class accuracy"}
"""Column headings of the section's table that are not the metric's name."""


def guidance_runs(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per guidance point of every successful run: the run's
    :data:`KEYS`, ``noise_floor``, ``guidance``, each metric of the point
    and its standard error as ``<metric>__se``. Empty (with the key
    columns) when no record holds a sweep."""
    rows = []
    for record in records:
        if not record.ok:
            continue
        config = record.config
        for point in record.guidance:
            row = {
                "task": config.task,
                "model": config.model.name,
                "family": config.model.family,
                "budget": config.budget,
                "seed": config.seed,
                "noise_floor": config.is_noise_floor,
                "guidance": point.guidance,
                "status": "ok",
                **point.metrics,
            }
            row.update({f"{name}{SE_SUFFIX}": i.se for name, i in point.intervals.items()})
            rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=[*KEYS, "guidance"])


def guidance_metrics(runs: pd.DataFrame) -> list[str]:
    """The metrics shown, in order: the Fréchet distance with values in
    ``runs`` (a frame of several tasks carries the other tasks' column,
    empty for this one), precision, recall, the Inception Score where
    ``runs`` has values of it, class accuracy."""
    present = [name for name in FRECHET if name in runs and runs[name].notna().any()]
    inception = [INCEPTION] if INCEPTION in runs and runs[INCEPTION].notna().any() else []
    return [*present[:1], "precision", "recall", *inception, "class_accuracy"]


def guidance_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (task, model, family, budget, noise floor, guidance) of
    :func:`guidance_runs`: ``seeds`` and, per metric, ``<metric>`` (mean
    over seeds) and ``<metric>_ci`` (half-width of its 95 % interval,
    seed-to-seed and within-run variation combined as in the main tables,
    :func:`genbench.report.summary.seed_summary`). Sorted by model, then
    guidance."""
    rows = []
    metrics = guidance_metrics(runs)
    for key, group in runs.groupby(list(GROUP), sort=True):
        row = dict(zip(GROUP, key, strict=True))
        row["seeds"] = len(group)
        for metric in metrics:
            summary = seed_summary(group, metric)
            row[metric] = None if summary is None else summary.mean
            row[f"{metric}_ci"] = None if summary is None else summary.half_width
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["model", "budget", "guidance"], ignore_index=True)


def guidance_section(task: str, runs: pd.DataFrame, assets: Path, out: Path) -> list[str]:
    """The "Guidance sweep" section of ``task`` from its points in ``runs``
    (:func:`guidance_runs`), writing ``<out>/<slug>-guidance.csv`` and
    ``<assets>/guidance.png``; no section and no CSV (one left from an
    earlier build is removed) when no run of the task holds a sweep."""
    slug = task.replace("/", "-")
    csv_path = out / f"{slug}-guidance.csv"
    if runs.empty:
        csv_path.unlink(missing_ok=True)
        return []
    summary = guidance_summary(runs)
    summary.to_csv(csv_path, index=False, float_format="%.8g")
    metrics = guidance_metrics(runs)
    plot = guidance_plot(
        summary,
        assets / "guidance.png",
        title=task,
        frechet=metrics[0],
        inception=INCEPTION in metrics,
    )
    scales = ", ".join(format_number(w) for w in sorted(summary["guidance"].unique()))
    return [
        "## Guidance sweep",
        "",
        "Class-conditional samples of the models that declare `conditional_sample`, at "
        f"classifier-free guidance scales w = {scales} (0: unconditional, 1: conditional, "
        "above 1: guided further). Each run asks for every class in turn with its own sample "
        f"seed; `{escape(metrics[0])}`, precision, recall and the classifier Inception "
        "Score (IS) are computed as in the main "
        "table, and class accuracy is the share of samples the task's classifier assigns to "
        "the class asked for (Wilson interval within a run). Mean over seeds ± the half-width "
        "of its 95 % interval. The held-out `data` row returns real examples of each asked "
        "class and ignores w: its class accuracy is the classifier's own accuracy, the "
        "reference line.",
        "",
        f"![guidance sweep]({slug}/{plot.name})",
        "",
        _table(summary, metrics),
        "",
        f"Values also in [{csv_path.name}]({csv_path.name}).",
        "",
    ]


def _table(summary: pd.DataFrame, metrics: list[str]) -> str:
    header = ["model", "w", "seeds", *[HEADERS.get(m, escape(m)) for m in metrics]]
    rows = []
    for row in summary.itertuples(index=False):
        values = row._asdict()
        name = escape(values["model"]) + (" (held-out data)" if values["noise_floor"] else "")
        cells = [name, format_number(float(values["guidance"])), str(int(values["seeds"]))]
        cells += [format_cell(values[m], values[f"{m}_ci"]) for m in metrics]
        rows.append(cells)
    return table(rows, header)


def guidance_plot(
    summary: pd.DataFrame, path: Path, *, title: str, frechet: str, inception: bool = False
) -> Path:
    """One line per model through its guidance scales in order, each point
    labelled with its ``w``, in two panels (precision against recall, the
    Fréchet distance against class accuracy) and, with ``inception``, a
    third: the Fréchet distance against the Inception Score. The held-out
    data row (its points coincide: it ignores ``w``) is drawn as a black
    cross with dotted reference lines through its values. Returns ``path``."""
    pairs = (("recall", "precision"), ("class_accuracy", frechet))
    if inception:
        pairs += ((INCEPTION, frechet),)
    figure, panels = plt.subplots(1, len(pairs), figsize=(5.5 * len(pairs), 4.6), dpi=110)
    colours = plt.get_cmap("tab10")
    for index, (model, rows) in enumerate(summary.groupby("model", sort=True)):
        rows = rows.sort_values("guidance")
        floor = bool(rows["noise_floor"].iloc[0])
        style = (
            {"fmt": "kx--", "label": f"{model} (held-out data)"}
            if floor
            else {
                "fmt": "o-",
                "color": colours(index % 10),
                "label": model,
            }
        )
        for axes, (x, y) in zip(panels, pairs, strict=True):
            axes.errorbar(
                rows[x],
                rows[y],
                xerr=rows[f"{x}_ci"].fillna(0.0),
                yerr=rows[f"{y}_ci"].fillna(0.0),
                capsize=3,
                **style,
            )
            if floor:  # the reference lines through the held-out data's values
                axes.axvline(rows[x].iloc[0], color="grey", linestyle=":", linewidth=1)
                axes.axhline(rows[y].iloc[0], color="grey", linestyle=":", linewidth=1)
                continue
            for point in rows.itertuples(index=False):
                axes.annotate(
                    f"w={format_number(float(point.guidance))}",
                    (getattr(point, x), getattr(point, y)),
                    fontsize=6,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    for axes, (x, y) in zip(panels, pairs, strict=True):
        axes.set_xlabel(HEADERS.get(x, x).replace("_", " ") + " →")
        axes.set_ylabel(y.replace("_", " ") + (" (lower is better)" if y == frechet else " →"))
        axes.grid(alpha=0.3)
    panels[0].set_xlim(-0.02, 1.02)
    panels[0].set_ylim(-0.02, 1.02)
    panels[0].set_title(f"{title}: precision vs recall by guidance", fontsize=10)
    panels[1].set_title(f"{title}: {frechet} vs class accuracy by guidance", fontsize=10)
    if inception:
        panels[2].set_title(f"{title}: {frechet} vs IS by guidance", fontsize=10)
    panels[1].legend(fontsize=7, loc="best")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
