"""Leaderboards are a pure function of records: ranking, mean ± std,
escaping, bound markers, plots, index."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from record_factory import make_record as _record

from genbench.records import record_path, write_record
from genbench.records.jsonio import to_json
from genbench.records.record import SampleStrip
from genbench.report.leaderboard import best_model, build_leaderboards
from genbench.report.markdown import escape, format_cell
from genbench.tasks.preview import read_text_snippets, save_text_snippets


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    rows = {
        "good": (
            "vae",
            [(1.0, 0.9, 0.8, 2.0), (3.0, 0.7, 0.6, 2.2)],
            False,
            "a | pipe *and* <b>html</b>",
        ),
        "bad": ("gan", [(10.0, 0.5, 0.1, None), (12.0, 0.5, 0.3, None)], True, "plain"),
        "data": ("baseline", [(0.5, 0.95, 0.95, None), (0.5, 0.95, 0.95, None)], True, ""),
    }
    for model, (family, seeds, exact, description) in rows.items():
        for seed, (fid, precision, recall, bpd) in enumerate(seeds):
            metrics = {
                "fid": fid,
                "precision": precision,
                "recall": recall,
                "samples_per_second": 100.0 * (seed + 1),
            }
            if bpd is not None:
                metrics["bits_per_dim"] = bpd
            write_record(
                record_path(root, "toy/ring8", model, "default", seed),
                _record(model, family, seed, metrics, exact=exact, description=description),
            )
    write_record(
        record_path(root, "toy/ring8", "broken", "default", 0),
        _record("broken", "gan", 0, {}, status="failed"),
    )
    return root


def test_markdown_table_ranks_and_aggregates(results, tmp_path):
    files = build_leaderboards(results, tmp_path / "lb")
    assert [f.task for f in files] == ["toy/ring8"]
    text = files[0].markdown.read_text()
    table = [line for line in text.splitlines() if line.startswith("| ")]
    header = table[0]
    assert "fid ↓" in header and "recall ↑" in header
    body = table[1:]
    order = [line.split("|")[2].strip() for line in body[:4]]
    assert order == ["`data`", "`good`", "`bad`", "`broken`"]
    good = next(line for line in body if "`good`" in line)
    # fid (1, 3), no recorded intervals: se = sqrt(var 2 / 2 seeds) = 1, ± t(1 df) se
    assert "2 ± 12.71" in good
    assert "2.1 ± 1.271†" in text  # bits/dim from a bound is marked
    assert "± is the half-width of a 95 % interval" in text
    assert "† likelihood from a lower bound" in text
    assert "Held-out real data scores 0.5" in text
    assert "- `good` (vae): a \\| pipe \\*and\\* \\<b\\>html\\</b\\>" in text
    assert "## Failed runs" in text and "boom \\| bad" in text
    assert "![precision vs recall](toy-ring8/precision-recall.png)" in text
    assert (tmp_path / "lb" / "toy-ring8" / "precision-recall.png").stat().st_size > 1000


def test_rows_the_test_cannot_separate_share_a_rank(results, tmp_path):
    text = build_leaderboards(results, tmp_path / "lb")[0].markdown.read_text()
    ranks = {
        line.split("|")[2].strip(): line.split("|")[1].strip()
        for line in text.splitlines()
        if line.startswith("| ") and "`" in line
    }
    # data (0.5, 0.5) and good (1, 3): p = 0.37 with 1 degree of freedom; bad (10, 12) apart
    assert ranks["`data`"] == ranks["`good`"] == "1–2"
    assert ranks["`bad`"] == "3" and ranks["`broken`"] == "–"
    assert "Rank groups on `fid`" in text
    assert "Separated: `good` / `bad` (p = 0.02" in text
    assert "Not separated: `data` / `good`" in text


def test_csv_holds_means_and_stds(results, tmp_path):
    files = build_leaderboards(results, tmp_path / "lb")
    frame = pd.read_csv(files[0].csv).set_index("model")
    assert frame.loc["good", "fid"] == pytest.approx(2.0)
    assert frame.loc["good", "fid_std"] == pytest.approx(2**0.5)
    assert frame.loc["good", "fid_se"] == pytest.approx(1.0)
    assert frame.loc["good", "fid_ci"] == pytest.approx(12.706205, rel=1e-6)
    assert frame.loc["bad", "recall"] == pytest.approx(0.2)
    assert frame.loc["broken", "failed"] == 1 and frame.loc["broken", "seeds"] == 0


def test_index_links_every_task(results, tmp_path):
    build_leaderboards(results, tmp_path / "lb")
    index = (tmp_path / "lb" / "README.md").read_text()
    assert "[toy/ring8](toy-ring8.md)" in index
    # the best model row, not the held-out data above it, with its rank group
    assert "| best model |" in index and "`good` (fid 2, rank 1–2)" in index
    assert "`data` (fid" not in index


def test_best_model_skips_baselines_and_needs_a_value():
    rows = pd.DataFrame(
        {
            "task": ["toy/ring8"] * 3,
            "model": ["data", "memorizer", "gan"],
            "family": ["baseline", "baseline", "gan"],
            "seeds": [1, 1, 1],
            "fid": [0.5, 0.6, 9.0],
        }
    )
    assert best_model(rows) == "`gan` (fid 9, rank 3)"
    assert best_model(rows.iloc[:2]) == "–"
    assert best_model(rows.assign(fid=[0.5, 0.6, None])) == "–"


def test_regeneration_is_deterministic(results, tmp_path):
    first = build_leaderboards(results, tmp_path / "a")[0].markdown.read_text()
    second = build_leaderboards(results, tmp_path / "b")[0].markdown.read_text()
    assert first == second


def test_names_and_descriptions_cannot_break_a_table():
    assert escape("a | b") == "a \\| b"
    assert escape("line\nbreak") == "line break"
    assert escape("<script>") == "\\<script\\>"
    assert escape("`code` *em* [link](x)") == "\\`code\\` \\*em\\* \\[link\\](x)"
    assert format_cell(1.23456, None) == "1.235"
    assert format_cell(1.23456, 0.1) == "1.235 ± 0.1"
    assert format_cell(1.23456, 0.0) == "1.235"
    assert format_cell(float("nan"), None) == "–"


def test_no_records_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no run records found"):
        build_leaderboards(tmp_path / "empty", tmp_path / "lb")


def test_records_are_valid_json_without_nan(tmp_path):
    assert json.loads(to_json({"x": float("nan"), "y": [float("inf")]})) == {"x": None, "y": [None]}


def test_audio_previews_bring_their_clips(tmp_path):
    root = tmp_path / "results"
    record = _record("wave", "gan", 0, {"fid": 1.0}).with_preview("default-seed0.png")
    path = write_record(record_path(root, "toy/ring8", "wave", "default", 0), record)
    path.with_name("default-seed0.png").write_bytes(b"png")
    for index in range(6):
        path.with_name(f"default-seed0-{index}.wav").write_bytes(b"RIFF%d" % index)
    build_leaderboards(root, tmp_path / "lb")
    text = (tmp_path / "lb" / "toy-ring8.md").read_text()
    assert "![wave](toy-ring8/wave.png)" in text
    assert "Listen: [1](toy-ring8/wave-0.wav), [2](toy-ring8/wave-1.wav), " in text
    copied = sorted(p.name for p in (tmp_path / "lb" / "toy-ring8").glob("*.wav"))
    assert copied == ["wave-0.wav", "wave-1.wav", "wave-2.wav", "wave-3.wav"]  # four per model
    assert (tmp_path / "lb" / "toy-ring8" / "wave-3.wav").read_bytes() == b"RIFF3"


def test_an_all_bound_likelihood_column_is_marked(tmp_path):
    root = tmp_path / "results"
    for seed in range(2):
        metrics = {"fid": 1.0, "bits_per_dim": 2.0 + seed}
        record = _record("flow", "flow", seed, metrics, exact=False)
        write_record(record_path(root, "toy/ring8", "flow", "default", seed), record)
    text = build_leaderboards(root, tmp_path / "lb")[0].markdown.read_text()
    likelihood_row = next(line for line in text.splitlines() if "`flow`" in line and "2.5" in line)
    assert "2.5 ± 6.353†" in likelihood_row  # mean 2.5, se 0.5, t(1 df): all rows are bounds


def test_strips_show_most_then_least_realistic_with_their_scores(tmp_path):
    root = tmp_path / "results"
    strips = {
        "least_realistic": SampleStrip("default-seed0-least-realistic.png", "realism", (0.2, 0.3)),
        "most_realistic": SampleStrip("default-seed0-most-realistic.png", "realism", (2.5, 1.5)),
    }
    metrics = {"fid": 1.0, "precision": 0.5, "recall": 0.4, "vendi": 12.0}
    record = _record("vae", "vae", 0, metrics).with_preview("default-seed0.png").with_strips(strips)
    path = write_record(record_path(root, "toy/ring8", "vae", "default", 0), record)
    for name in ("default-seed0", "default-seed0-least-realistic", "default-seed0-most-realistic"):
        path.with_name(f"{name}.png").write_bytes(name.encode())
    build_leaderboards(root, tmp_path / "lb")
    text = (tmp_path / "lb" / "toy-ring8.md").read_text()
    most = text.index("Most realistic (realism 1.5 to 2.5):")
    least = text.index("Least realistic (realism 0.2 to 0.3):")
    assert text.index("![vae](toy-ring8/vae.png)") < most < least
    assert "![most_realistic](toy-ring8/vae-most-realistic.png)" in text
    copied = tmp_path / "lb" / "toy-ring8" / "vae-least-realistic.png"
    assert copied.read_bytes() == b"default-seed0-least-realistic"
    assert "![precision vs Vendi score](toy-ring8/precision-vendi.png)" in text
    assert (tmp_path / "lb" / "toy-ring8" / "precision-vendi.png").stat().st_size > 1000


def test_text_strips_are_quoted_snippets(tmp_path):
    root = tmp_path / "results"
    strip = {"most_realistic": SampleStrip("default-seed0-most-realistic.txt", "realism", (1.0,))}
    record = _record("lm", "autoregressive", 0, {"fid": 1.0}).with_strips(strip)
    path = write_record(record_path(root, "toy/ring8", "lm", "default", 0), record)
    save_text_snippets(
        ["def f():\n    return *x*", "ok", "third", "fourth"],
        path.with_name("default-seed0-most-realistic"),
    )
    build_leaderboards(root, tmp_path / "lb")
    text = (tmp_path / "lb" / "toy-ring8.md").read_text()
    assert "> def f(): ⏎ return \\*x\\*\n\n> ok\n" in text
    assert "> third" in text and "fourth" not in text  # three snippets a strip


def test_text_snippets_keep_newlines_and_are_cut(tmp_path):
    long = "x" * 500
    written = save_text_snippets(["a\nb", long, *["s"] * 20], tmp_path / "strip")
    assert written.name == "strip.txt"
    snippets = read_text_snippets(written)
    assert snippets[0] == "a\nb"
    assert snippets[1] == "x" * 240 + "…"
    assert len(snippets) == 8


def test_anomaly_auroc_sits_beside_bits_per_dim_with_its_arrow_and_the_paradox(tmp_path):
    root = tmp_path / "results"
    rows = {"flow": (1.2, 0.40), "gauss": (2.4, 0.99)}  # better bits/dim, worse AUROC
    for model, (bpd, auroc) in rows.items():
        metrics = {"fid": 1.0, "bits_per_dim": bpd, "anomaly_auroc_uniform": auroc}
        write_record(
            record_path(root, "toy/ring8", model, "default", 0), _record(model, "flow", 0, metrics)
        )
    text = build_leaderboards(root, tmp_path / "lb")[0].markdown.read_text()
    header = next(line for line in text.splitlines() if "bits_per_dim" in line)
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    position = columns.index("bits_per_dim ↓")
    assert columns[position + 1] == "anomaly_auroc_uniform ↑"
    assert "A better likelihood is not a better anomaly score: `flow` (flow) has 1.2" in text
