"""Leaderboards: a pure function of the stored run records.

``build_leaderboards(results, out)`` writes, per task, ``<out>/<slug>.md``
and ``<out>/<slug>.csv`` (the per-model summary over seeds), sample previews
and a precision–recall plot under ``<out>/<slug>/``, and an index
``<out>/README.md``. A task with runs at more than one budget of the ladder
(``default``, ``default-x2``...) also gets a quality-per-compute section,
its plot and ``<out>/<slug>-compute.csv``; one whose records hold guidance
points, a guidance sweep section, ``<out>/<slug>/guidance.png`` and
``<out>/<slug>-guidance.csv``. Nothing here runs a model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from genbench.metrics.info import METRICS, MetricInfo
from genbench.records.frame import records_to_frame
from genbench.records.record import RunRecord
from genbench.records.store import iter_record_files
from genbench.report.compute import (
    TRAIN_EXAMPLES,
    compute_observations,
    compute_summary,
    compute_table,
    has_ladder,
    is_upper_rung,
    train_examples_frame,
)
from genbench.report.guidance import KEYS, guidance_runs, guidance_section
from genbench.report.markdown import escape, format_cell, format_number, table
from genbench.report.observations import observations
from genbench.report.plots import compute_plot, precision_recall_plot, vendi_precision_plot
from genbench.report.ranking import (
    primary_metric,
    rank,
    rank_labels,
    separation_sentence,
)
from genbench.report.summary import metric_columns, summarise
from genbench.tasks.preview import read_text_snippets

SUPPORT_AND_COPYING = (
    "vendi",
    "alpha_precision",
    "beta_recall",
    "authenticity",
    "copying_ct",
    "copying_p",
    "mmd_rbf",
)
"""The newer sample metrics, shown in a table of their own."""

TABLE_GROUPS: tuple[tuple[str, Callable[[MetricInfo], bool]], ...] = (
    (
        "Sample quality and diversity",
        lambda info: info.kind in ("sample", "task") and info.name not in SUPPORT_AND_COPYING,
    ),
    ("Diversity, support and copying", lambda info: info.name in SUPPORT_AND_COPYING),
    (
        "Likelihood, reconstruction and cost",
        lambda info: info.kind in ("likelihood", "reconstruction", "speed", "model"),
    ),
)
"""Each leaderboard table's title and the metrics it shows."""
BOUND_MARK = "†"
INTERVAL_NOTE = (
    "± is the half-width of a 95 % interval for the mean over seeds. Its variance is the larger "
    "of the seed-to-seed variance and the mean within-run variance, over the number of seeds "
    "(Student's t with seeds − 1 degrees of freedom when the seed spread is the larger, else "
    "normal); within a run, sample metrics are bootstrapped over the generated samples (the "
    "real reference fixed), likelihoods over the test examples and anomaly AUROCs over the test "
    "and the shifted examples. Speed and size metrics vary "
    "by seed only."
)


@dataclass(frozen=True)
class LeaderboardFiles:
    """Files written for one task."""

    task: str
    markdown: Path
    csv: Path


def task_slug(task: str) -> str:
    """``image/mnist`` → ``image-mnist`` (file names of a task's pages)."""
    return task.replace("/", "-")


def build_leaderboards(
    results: Path, out: Path, *, budget: str | None = None
) -> list[LeaderboardFiles]:
    """Regenerate every task's leaderboard from the records under ``results``.

    ``budget`` keeps only runs at that budget in the main tables; without
    it every named budget is kept and a model run at two budgets gets a row
    for each (with a budget column), while the ladder's upper rungs
    (``default-x2`` and up) are left to the quality-per-compute section
    (unless a task has runs at no other budget). The quality-per-compute
    section always draws on all of a task's ladder runs.

    Raises:
        ValueError: no records under ``results`` (for that budget).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    located = list(iter_record_files(results))
    everything = records_to_frame(record for _, record in located)
    if everything.empty:
        raise ValueError(f"no run records found under {str(results)!r}")
    examples = train_examples_frame(record for _, record in located)
    everything = everything.merge(examples, on=["task", "model", "budget", "seed"], how="left")
    if budget is not None:
        frame = everything[everything["budget"] == budget]
        if frame.empty:
            raise ValueError(f"no run records at budget {budget!r} under {str(results)!r}")
    else:
        frame = _main_budgets(everything)
    summary = summarise(frame)
    previews = _previewed_runs(located)
    keys = list(KEYS)
    sweeps = guidance_runs(record for _, record in located).merge(frame[keys], on=keys)
    written = []
    for task, rows in summary.groupby("task", sort=True):
        runs = frame[frame["task"] == task]
        ladder = everything[everything["task"] == task]
        sweep = sweeps[sweeps["task"] == task]
        written.append(_write_task(task, rank(rows), runs, ladder, sweep, previews, out))
    _write_index(written, summary, out)
    return written


def _main_budgets(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the ladder's upper rungs of every task that has
    runs at another budget: the main tables compare rows at ``default``."""
    upper = frame["budget"].map(is_upper_rung).astype(bool)
    tasks_with_others = set(frame.loc[~upper, "task"])
    return frame[~upper | ~frame["task"].isin(tasks_with_others)]


def _without_unused_metrics(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` without the metric columns (and their ``_std``, ``_se``
    and ``_ci``) that no row of this task reports: records of other tasks
    add them to the frame."""
    unused = [name for name in METRICS if name in summary and summary[name].isna().all()]
    suffixes = ("", "_std", "_se", "_ci")
    return summary.drop(
        columns=[n + suffix for n in unused for suffix in suffixes if n + suffix in summary]
    )


def _write_task(
    task: str,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    ladder: pd.DataFrame,
    sweep: pd.DataFrame,
    previews: dict[tuple[str, str], tuple[Path, RunRecord]],
    out: Path,
) -> LeaderboardFiles:
    slug = task_slug(task)
    assets = out / slug
    if assets.exists():
        shutil.rmtree(assets)
    assets.mkdir(parents=True)
    summary = _without_unused_metrics(summary)
    csv_path = out / f"{slug}.csv"
    summary.to_csv(csv_path, index=False, float_format="%.8g")
    parts = [f"# Leaderboard: `{escape(task)}`", ""]
    parts += _header_lines(summary, runs)
    metrics = metric_columns(summary)
    ranks = rank_labels(summary, primary_metric(summary))
    for title, shows in TABLE_GROUPS:
        chosen = [m for m in metrics if shows(METRICS[m])]
        if chosen:
            table_text = _metric_table(summary, chosen, ranks)
            parts += [f"## {title}", "", table_text, "", INTERVAL_NOTE, ""]
    sentence = separation_sentence(summary, primary_metric(summary))
    if sentence:
        parts += [sentence, ""]
    if (summary["likelihood_exact"] == False).any():  # noqa: E712 - pandas NA-aware
        parts += [
            f"{BOUND_MARK} likelihood from a lower bound (ELBO, IWAE, VLB or dequantisation): "
            "the bits shown are an upper bound on the model's true bits.",
            "",
        ]
    floor = frozenset(runs.loc[runs["noise_floor"].astype(bool), "model"])
    notes = observations(summary, primary_metric(summary) or "fid", floor)
    if notes:
        parts += ["## What the numbers show", "", *[f"- {line}" for line in notes], ""]
    if {"precision", "recall"} <= set(metrics):
        plot = precision_recall_plot(summary, assets / "precision-recall.png", title=task)
        parts += ["## Precision vs recall", "", f"![precision vs recall]({slug}/{plot.name})", ""]
    if {"precision", "vendi"} <= set(metrics):
        plot = vendi_precision_plot(summary, assets / "precision-vendi.png", title=task)
        parts += [
            "## Precision vs Vendi score",
            "",
            "Quality against the effective number of distinct samples (Vendi score, log "
            "scale; the `data` row shows the real data's own diversity).",
            "",
            f"![precision vs Vendi score]({slug}/{plot.name})",
            "",
        ]
    parts += _compute_section(task, ladder, primary_metric(summary), assets, out)
    parts += guidance_section(task, sweep, assets, out)
    parts += _model_section(summary)
    parts += _sample_section(summary, task, previews, assets, slug)
    parts += _failure_section(runs)
    parts += [
        "## Reproduce",
        "",
        "```",
        f"genbench run -t {task} --budget {summary['budget'].iloc[0]}"
        f" --seeds {int(summary['seeds'].max())}",
        "genbench leaderboard",
        "```",
        "",
    ]
    md_path = out / f"{slug}.md"
    md_path.write_text("\n".join(parts), encoding="utf-8")
    return LeaderboardFiles(task, md_path, csv_path)


def _compute_section(
    task: str, ladder: pd.DataFrame, metric: str | None, assets: Path, out: Path
) -> list[str]:
    """The quality-per-compute section of a task whose runs hold more than
    one ladder budget (plot, table, observations; values also in
    ``<out>/<slug>-compute.csv``, removed when there is no section)."""
    slug = task_slug(task)
    csv_path = out / f"{slug}-compute.csv"
    points = compute_summary(ladder, metric) if metric is not None else None
    if points is None or not has_ladder(points):
        csv_path.unlink(missing_ok=True)
        return []
    points.to_csv(csv_path, index=False, float_format="%.8g")
    floor_rows = ladder[ladder["noise_floor"].astype(bool) & (ladder["status"] == "ok")]
    floor = floor_rows[metric].mean() if metric in floor_rows and not floor_rows.empty else None
    plot = compute_plot(
        points,
        assets / "quality-per-compute.png",
        metric=metric,
        title=task,
        floor=None if floor is None or pd.isna(floor) else float(floor),
    )
    seeds_per_rung = points.groupby("multiple")["seeds"].max().astype(int)
    commands = " and ".join(
        f"`genbench run -t {task} --budget-sweep "
        f"{','.join(str(k) for k in rungs.index)} --seeds {seeds}`"
        for seeds, rungs in seeds_per_rung.groupby(seeds_per_rung, sort=False)
    )
    return [
        "## Quality per compute",
        "",
        f"`{escape(metric)}` of each row at each budget of the ladder (`default-xK` trains "
        "K times the default steps, nothing else changed), against training compute: "
        f"{TRAIN_EXAMPLES.replace('_', ' ')} processed as the plugin reports it "
        "(device-independent) and training seconds on the recorded device. "
        "Mean over seeds ± the half-width of its 95 % interval.",
        "",
        f"![quality per compute]({slug}/{plot.name})",
        "",
        compute_table(points, metric),
        "",
        *[f"- {line}" for line in compute_observations(points, metric)],
        "",
        f"Reproduce: {commands}.",
        "",
    ]


def _header_lines(summary: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    budgets = ", ".join(sorted(summary["budget"].unique()))
    n_gen = summary["n_generated"].dropna()
    metric = primary_metric(summary)
    lines = [
        f"Budget: {escape(budgets)}. Runs: {len(runs)} "
        f"({int((runs['status'] == 'ok').sum())} succeeded). "
        f"Generated samples per run: {int(n_gen.max()) if len(n_gen) else '–'}. "
        "Cells show the mean over seeds ± the half-width of its 95 % interval; "
        "↓ lower is better, ↑ higher is better.",
    ]
    if metric:
        lines.append(f"Ranked by `{metric}`.")
    return [*lines, ""]


def _metric_table(summary: pd.DataFrame, metrics: list[str], ranks: list[str]) -> str:
    several_budgets = summary["budget"].nunique() > 1
    header = ["#", "model", "family", *(["budget"] if several_budgets else []), "seeds"]
    for name in metrics:
        info = METRICS[name]
        arrow = {True: " ↑", False: " ↓", None: ""}[info.higher_is_better]
        header.append(f"{escape(name)}{arrow}")
    rows = []
    for label, row in zip(ranks, summary.itertuples(index=False), strict=True):
        values = row._asdict()
        cells = [label, f"`{escape(values['model'])}`", escape(values["family"])]
        if several_budgets:
            cells.append(escape(values["budget"]))
        cells.append(str(int(values["seeds"])))
        exact = values["likelihood_exact"]
        bound = exact is not None and exact is not pd.NA and not pd.isna(exact) and not exact
        for name in metrics:
            cell = format_cell(values.get(name), values.get(f"{name}_ci"))
            if bound and METRICS[name].kind == "likelihood" and cell != "–":
                cell += BOUND_MARK
            cells.append(cell)
        rows.append(cells)
    return table(rows, header)


def _model_section(summary: pd.DataFrame) -> list[str]:
    lines = [
        f"- `{escape(row.model)}` ({escape(row.family)}): {escape(row.description or '–')}"
        for row in summary.drop_duplicates("model").itertuples(index=False)
    ]
    return ["## Models", "", *lines, ""]


def _sample_section(
    summary: pd.DataFrame,
    task: str,
    previews: dict[tuple[str, str], tuple[Path, RunRecord]],
    assets: Path,
    slug: str,
) -> list[str]:
    """Each model's sample preview and its most and least realistic samples
    (from its lowest-seed successful run)."""
    lines = []
    for model in summary["model"]:
        if (task, model) not in previews:
            continue
        folder, record = previews[(task, model)]
        lines += [f"### `{escape(model)}`", ""]
        if record.preview:
            lines += _show_samples(folder / record.preview, assets, model, slug, model)
        for name in STRIP_ORDER:
            if name not in record.strips:
                continue
            strip = record.strips[name]
            low, high = min(strip.values), max(strip.values)
            caption = (
                f"{name.replace('_', ' ').capitalize()} ({strip.score} {format_number(low)}"
                f" to {format_number(high)})"
            )
            lines += [f"{caption}:", ""]
            lines += _show_samples(
                folder / strip.file, assets, f"{model}-{name.replace('_', '-')}", slug, name
            )
    if not lines:
        return []
    intro = (
        "Each model's samples (its lowest seed), then the generated samples with the highest "
        "and lowest realism score (Kynkäänniemi et al. 2019): realism above 1 means a sample "
        "lies inside the real data's 3-NN balls, well below 1 far from every real sample."
    )
    return ["## Samples", "", intro, "", *lines]


def _show_samples(source: Path, assets: Path, name: str, slug: str, alt: str) -> list[str]:
    """Copy one preview file (and its audio clips) beside the leaderboard as
    ``<name><suffix>`` and return its Markdown: an image, quoted text
    snippets, or a link."""
    if not source.exists():
        return []
    target = assets / f"{name}{source.suffix}"
    shutil.copyfile(source, target)
    if source.suffix == ".png":
        lines = [f"![{escape(alt)}]({slug}/{target.name})", ""]
    elif source.suffix == ".txt":
        snippets = read_text_snippets(source)[:LEADERBOARD_SNIPPETS]
        lines = [_quote(snippet) for snippet in snippets]
        lines = [line for quoted in lines for line in (quoted, "")]
    else:
        lines = [f"- [{escape(name)}]({slug}/{target.name})", ""]
    clips = _copy_clips(source, assets, name)
    if clips:
        links = ", ".join(f"[{i + 1}]({slug}/{clip.name})" for i, clip in enumerate(clips))
        lines += [f"Listen: {links}", ""]
    return lines


def _quote(snippet: str) -> str:
    """A text sample as one Markdown block quote (line breaks shown as ⏎)."""
    flat = escape(snippet.replace("\r", "").replace("\n", " ⏎ "))
    return f"> {flat}"


STRIP_ORDER = ("most_realistic", "least_realistic")
"""The sample strips a model's section shows, in order."""

LEADERBOARD_CLIPS = 4
"""Audio clips per preview copied next to an audio task's leaderboard."""

LEADERBOARD_SNIPPETS = 3
"""Text snippets per preview quoted on a text task's leaderboard (the file
beside the record holds more)."""


def _copy_clips(preview: Path, assets: Path, name: str) -> list[Path]:
    """Copy the first :data:`LEADERBOARD_CLIPS` clips saved beside ``preview``
    (``<stem>-<i>.wav``, as audio tasks write them) to ``<name>-<i>.wav``."""
    copied = []
    for index in range(LEADERBOARD_CLIPS):
        source = preview.with_name(f"{preview.stem}-{index}.wav")
        if not source.exists():
            break
        target = assets / f"{name}-{index}.wav"
        shutil.copyfile(source, target)
        copied.append(target)
    return copied


def _failure_section(runs: pd.DataFrame) -> list[str]:
    failed = runs[runs["status"] != "ok"]
    if failed.empty:
        return []
    rows = [
        [f"`{escape(r.model)}`", str(r.seed), escape(r.failure)]
        for r in failed.itertuples(index=False)
    ]
    return ["## Failed runs", "", table(rows, ["model", "seed", "failure"]), ""]


def _previewed_runs(
    located: list[tuple[Path, RunRecord]],
) -> dict[tuple[str, str], tuple[Path, RunRecord]]:
    """(task, model) → (folder, record) of its lowest-seed successful run
    that saved a preview or sample strips."""
    chosen: dict[tuple[str, str], tuple[Path, RunRecord]] = {}
    for path, record in located:
        if not record.ok or not (record.preview or record.strips):
            continue
        key = (record.config.task, record.config.model.name)
        if key not in chosen or record.config.seed < chosen[key][1].config.seed:
            chosen[key] = (path.parent, record)
    return chosen


def best_model(task_rows: pd.DataFrame) -> str:
    """The index's "best model" cell for one task's summary rows: the first
    row by :func:`rank` whose family is not ``baseline`` (held-out data and
    the memorizer bound what a metric can show; they are not models), with
    its primary metric and its rank label on the task's page, e.g.
    ``"`gan` (fid 62.7, rank 3)"``; ``"–"`` without a primary metric or a
    model row with a value of it."""
    ranked = rank(task_rows)
    metric = primary_metric(ranked)
    if metric is None:
        return "–"
    labels = rank_labels(ranked, metric)
    for position, (_, row) in enumerate(ranked.iterrows()):
        if row["family"] != "baseline" and pd.notna(row[metric]):
            value = format_cell(row[metric], None)
            return f"`{escape(row['model'])}` ({escape(metric)} {value}, rank {labels[position]})"
    return "–"


def _write_index(written: list[LeaderboardFiles], summary: pd.DataFrame, out: Path) -> None:
    rows = []
    for files in written:
        task_rows = summary[summary["task"] == files.task]
        rows.append(
            [
                f"[{escape(files.task)}]({files.markdown.name})",
                str(len(task_rows)),
                best_model(task_rows),
                f"[csv]({files.csv.name})",
            ]
        )
    text = "\n".join(
        [
            "# genbench leaderboards",
            "",
            "Generated by `genbench leaderboard` from the run records; do not edit by hand.",
            "",
            table(rows, ["task", "models", "best model", "data"]),
            "",
        ]
    )
    (out / "README.md").write_text(text, encoding="utf-8")
