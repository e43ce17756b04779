"""The leaderboard's sentences say what the numbers say."""

from __future__ import annotations

import math

import pandas as pd

from genbench.report.observations import observations

NAN = math.nan
FLOOR = frozenset({"data"})  # the row that scores held-out real data


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["data", "memorizer", "gaussian", "vae", "autoencoder", "flow", "pixelcnn"],
            "family": ["baseline", "baseline", "baseline", "vae", "vae", "flow", "autoregressive"],
            "fid": [1.5, 3.0, 600.0, 200.0, 290.0, 650.0, 150.0],
            "memorisation_fraction": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "bits_per_dim": [NAN, NAN, 2.4, 1.7, NAN, 1.8, 1.2],
            "likelihood_exact": [None, None, True, False, None, False, True],
            "recon_mse": [NAN, NAN, NAN, 0.02, 0.01, 0.0, NAN],
            "samples_per_second": [5e4, 7e4, 40.0, 3000.0, 3000.0, 1000.0, 30.0],
        }
    )


def test_best_fid_skips_baselines_and_names_the_noise_floor():
    notes = observations(_summary(), noise_floor=FLOOR)
    assert notes[0] == (
        "Best fid among models: `pixelcnn` (autoregressive) at 150. "
        "Held-out real data scores 1.5: the reference point at this sample count."
    )


def test_models_are_compared_with_the_best_baseline_that_does_not_copy():
    # the memorizer's FID (3) is no bar: it copies the training set
    notes = observations(_summary(), noise_floor=FLOOR)
    assert notes[1] == (
        "Not better than the best non-copying baseline, `gaussian` (baseline) (fid 600): "
        "`flow` (650)."
    )
    better = _summary()
    better.loc[better["model"] == "flow", "fid"] = 400.0
    notes = observations(better, noise_floor=FLOOR)
    assert "Every model has a better fid than the best non-copying baseline" in notes[1]


def test_likelihood_reconstruction_speed_and_memorisation_sentences():
    notes = observations(_summary(), noise_floor=FLOOR)
    assert notes[2] == (
        "Best likelihood: `pixelcnn` (autoregressive) at 1.2 bits/dim (exact); "
        "4 rows report a likelihood."
    )
    assert notes[3] == (
        "Reconstruction mean squared error, best first: `flow` 0 (fid rank 7 of 7), "
        "`autoencoder` 0.01 (fid rank 5 of 7), `vae` 0.02 (fid rank 4 of 7)."
    )
    assert notes[4] == (
        "Sampling speed spans a factor of 100: `vae` (vae) draws 3,000 samples/s, "
        "`pixelcnn` (autoregressive) 30 samples/s."
    )
    assert (
        notes[5] == "Flagged as copying training examples (memorisation fraction): `memorizer` (1)."
    )


def test_a_higher_is_better_primary_metric_ranks_the_other_way():
    summary = _summary().assign(coverage=[0.97, 0.95, 0.02, 0.3, 0.1, 0.01, 0.9])
    notes = observations(summary, primary="coverage", noise_floor=FLOOR)
    assert notes[0].startswith("Best coverage among models: `pixelcnn` (autoregressive) at 0.9.")
    assert notes[1] == (
        "Not better than the best non-copying baseline, `gaussian` (baseline) (coverage 0.02): "
        "`flow` (0.01)."
    )
    assert "`flow` 0 (coverage rank 7 of 7)" in notes[3]


def test_text_rows_get_the_decoding_trade_off():
    summary = pd.DataFrame(
        {
            "model": ["lm-greedy", "lm-beam4", "lm", "lm-nucleus0.9"],
            "family": ["autoregressive"] * 4,
            "fid": [0.9, 0.8, 0.3, 0.28],
            "precision": [0.16, 0.11, 0.31, 0.41],
            "distinct_2": [0.03, 0.06, 0.88, 0.78],
            "self_bleu": [0.85, 0.62, 0.05, 0.08],
            "repetition_rate": [0.71, 0.59, 0.0, 0.0],
            "mauve_mean": [0.005, 0.006, 0.12, 0.13],
            "mauve_std": [0.001, 0.001, 0.017, 0.015],
        }
    )
    notes = observations(summary, noise_floor=FLOOR)
    assert notes[-3] == (
        "Least diverse samples: "
        "`lm-greedy` (distinct_2 0.03, self_bleu 0.85, repetition_rate 0.71), "
        "`lm-beam4` (distinct_2 0.06, self_bleu 0.62, repetition_rate 0.59), "
        "`lm-nucleus0.9` (distinct_2 0.78, self_bleu 0.08, repetition_rate 0)."
    )
    assert notes[-2] == (
        "Most diverse: `lm` (distinct_2 0.88, self_bleu 0.05, repetition_rate 0), "
        "at a precision of 0.31."
    )
    assert notes[-1] == (
        "Best MAUVE: `lm-nucleus0.9` at 0.13 ± 0.015 (spread over k-means seeds); "
        "within that spread of it: `lm`."
    )


def test_mixture_tasks_get_one_sentence_per_mode_count():
    summary = pd.DataFrame(
        {
            "model": ["data", "gan", "vae", "gaussian"],
            "family": ["baseline", "gan", "vae", "baseline"],
            "coverage": [0.98, 0.5, 0.3, 0.0],
            "modes_reached": [8.0, 8.0, 8.0, 8.0],
            "modes_covered": [8.0, 7.667, 5.0, 0.0],
        }
    )
    notes = observations(summary, noise_floor=FLOOR, primary="coverage")
    assert "Every model has all 8 modes reached (nearest mode, at any distance)." in notes
    assert (
        "Fewer modes covered (within the high-quality radius) than the best (8): "
        "`vae` (5), `gaussian` (0)."
    ) in notes


def test_copying_sentence_names_the_rows_c_t_flags_and_only_those():
    summary = _summary().assign(
        copying_ct=[0.4, -12.2, 0.1, 3.0, 2.0, 1.0, -1.7],
        copying_p=[0.9, 0.0, 0.5, 1.0, 0.99, 0.8, 0.004],
    )
    (sentence,) = [n for n in observations(summary, "fid", FLOOR) if "C_T" in n]
    assert "flags copying by `memorizer` (baseline) (C_T -12.2, p 0), `pixelcnn`" in sentence
    assert "it does not reject for the other 5 rows." in sentence
    assert "`data`" not in sentence
    quiet = summary.assign(copying_p=0.5)
    (sentence,) = [n for n in observations(quiet, "fid", FLOOR) if "C_T" in n]
    assert sentence.endswith("level 0.01) flags no row.")


def _paradox_summary(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "model": ["gaussian", "pixelcnn", "vae"],
            "family": ["baseline", "autoregressive", "vae"],
            "bits_per_dim": [2.4, 1.2, 1.7],
            "likelihood_exact": [True, True, False],
            "anomaly_auroc_inverted": [0.99, 0.40, 0.98],
            "anomaly_auroc_inverted_ci": [0.01, 0.05, 0.01],
        }
    )
    return frame.assign(**changes)


def test_a_better_likelihood_with_a_worse_anomaly_score_is_called_out():
    notes = observations(_paradox_summary())
    paradox = [n for n in notes if n.startswith("A better likelihood")]
    # the largest disagreement: pixelcnn (1.2 bits/dim, AUROC 0.40) against gaussian (2.4, 0.99)
    assert paradox == [
        "A better likelihood is not a better anomaly score: `pixelcnn` (autoregressive) has "
        "1.2 bits/dim against 2.4 for `gaussian` (baseline), yet tells the test set from the "
        "inverted set less well (`anomaly_auroc_inverted` 0.4 ± 0.05 against 0.99 ± 0.01)."
    ]


def test_no_paradox_when_the_orders_agree_or_the_gap_is_within_the_intervals():
    agree = _paradox_summary(anomaly_auroc_inverted=[0.6, 0.99, 0.8])
    assert not [n for n in observations(agree) if n.startswith("A better likelihood")]
    # vae (1.7) is below gaussian (2.4) by 0.01 only, inside sqrt(0.01^2 + 0.01^2)
    close = _paradox_summary(anomaly_auroc_inverted=[0.99, 0.995, 0.98])
    assert not [n for n in observations(close) if n.startswith("A better likelihood")]


def test_rows_that_find_the_shifted_set_more_likely_are_named():
    summary = _paradox_summary(
        anomaly_auroc_shrunk=[0.01, 0.45, 0.03], anomaly_auroc_shrunk_ci=[0.005, 0.1, 0.01]
    )
    notes = [n for n in observations(summary) if n.startswith("The likelihood finds")]
    # pixelcnn's 0.45 ± 0.1 reaches 0.5: not named for shrunk; its inverted 0.40 ± 0.05 is
    assert notes == [
        "The likelihood finds the inverted set more probable than the test set itself "
        "(`anomaly_auroc_inverted` below 0.5 beyond its interval) for `pixelcnn` (0.4).",
        "The likelihood finds the shrunk set more probable than the test set itself "
        "(`anomaly_auroc_shrunk` below 0.5 beyond its interval) for `gaussian` (0.01), "
        "`vae` (0.03).",
    ]
    everyone = _paradox_summary(anomaly_auroc_shrunk=[0.01, 0.02, 0.03])
    notes = [n for n in observations(everyone) if n.startswith("The likelihood finds")]
    assert notes[1].endswith(
        "for every row reporting it (`gaussian` (0.01), `pixelcnn` (0.02), `vae` (0.03))."
    )
