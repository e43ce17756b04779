"""Hyper-parameters of the flow-matching rows (``flow-matching`` and the
rows sharing its network) per budget and modality, with the conventions of
:mod:`genbench_families.budgets`: ``smoke`` trains in a second or two,
``default`` within about the CPU time of the diffusion rows of its
modality on one thread (the same networks, widths, step counts and
learning-rate schedules), ``full`` is sized for one GPU and not measured.

The sampling solver and its steps are each row's ``options``
(:mod:`genbench_families.catalogue`), so that rows differing only in NFE
share one trained network. The likelihood's solver, steps and trace
estimator are here: the exact trace on toy data (``D = 2`` autograd passes
per evaluation) and Hutchinson's estimator with Rademacher probes on
images and audio, whose backward ODE takes fewer steps than sampling to
keep the 1,000-example likelihood batch's cost bounded (docs/families.md
gives the measurements).

The sampling steps' spacing (``time_power``) is per modality: steps
shrinking towards the data (2) on toy data, whose sharp modes make the
velocity change fast near ``t = 1`` (on ``toy/ring8`` the Heun row's
precision went from 0.35 to 0.75), equal steps (1, the default) on images
and audio, where the shrinking steps scored worse (MNIST FID 104.5
against 103.3, audio FAD 134 against 116).
"""

from __future__ import annotations

from genbench_families.budgets import _budgets

_TOY = {"trace": "exact", "likelihood_solver": "heun", "time_power": 2.0}
_HUTCHINSON = {"trace": "hutchinson", "likelihood_solver": "heun"}

FLOW_MATCHING_BUDGETS = _budgets(
    smoke={
        "image": {
            **_HUTCHINSON,
            "width": 16,
            "steps": 60,
            "batch_size": 32,
            "lr": 4e-3,
            "ema": 0.9,
            "likelihood_steps": 8,
            "probes": 4,
        },
        "toy": {
            **_TOY,
            "width": 32,
            "steps": 200,
            "batch_size": 128,
            "lr": 1e-2,
            "ema": 0.95,
            "likelihood_steps": 20,
        },
        "audio": {
            **_HUTCHINSON,
            "width": 8,
            "steps": 20,
            "batch_size": 8,
            "lr": 4e-3,
            "ema": 0.9,
            "likelihood_steps": 2,
            "probes": 2,
        },
    },
    default={
        "image": {
            **_HUTCHINSON,
            "width": 24,
            "steps": 950,
            "batch_size": 32,
            "lr": 4e-3,
            "ema": 0.995,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.1},
            "likelihood_steps": 8,
            "probes": 4,
        },
        "toy": {
            **_TOY,
            "width": 128,
            "steps": 3400,
            "batch_size": 256,
            "lr": 3e-3,
            "ema": 0.995,
            "schedule": {"warmup_steps": 100, "decay": "cosine", "final_fraction": 0.05},
            "likelihood_steps": 50,
        },
        "audio": {
            **_HUTCHINSON,
            "width": 32,
            "steps": 700,
            "batch_size": 32,
            "lr": 4e-3,
            "ema": 0.995,
            "likelihood_steps": 8,
            "probes": 4,
        },
    },
    full={
        "image": {
            **_HUTCHINSON,
            "width": 64,
            "steps": 100_000,
            "batch_size": 128,
            "lr": 2e-4,
            "ema": 0.9999,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.1},
            "likelihood_steps": 20,
            "probes": 8,
            "early_stopping": {
                "holdout_fraction": 0.05,
                "check_every": 1000,
                "patience": 10,
                "holdout_batches": 16,
            },
        },
        "toy": {
            **_TOY,
            "width": 128,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 1e-3,
            "ema": 0.999,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.05},
            "likelihood_steps": 100,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "audio": {
            **_HUTCHINSON,
            "width": 64,
            "steps": 50_000,
            "batch_size": 64,
            "lr": 2e-4,
            "ema": 0.9999,
            "likelihood_steps": 20,
            "probes": 8,
        },
    },
)
