"""Hyper-parameters of the VQ-VAE row (``vq-vae``) per budget and
modality, with the conventions of :mod:`genbench_families.budgets`
(``smoke`` trains in a second or two, ``default`` in about the CPU time of
the VAE row of its modality, ``full`` is sized for one GPU and not
measured; its autoencoder and prior each stop early on a held-out 5 %,
as the other families' ``full`` rows do). ``steps``, ``batch_size`` and
``lr`` train the autoencoder; ``prior`` holds the code prior's (an
:class:`~genbench_families.autoregressive.Autoregressive` model), trained
after it. docs/families.md gives the measurements.

Code grids: 7 x 7 codes for 28 x 28 images, one code per 32-sample frame
of audio (250 a second at 8 kHz), one code per toy point (its prior is a
categorical table over the codebook). Toy samples are draws from the
decoder (a Gaussian around each code's decoded point), not its mode: the
mode would give at most ``codes`` distinct points. The ``smoke`` rows
sample from the decoder too: after a few dozen steps its mode is nearly
the same example for every code (on the conformance kit's 2 x 2 images two
seeds gave identical samples), while draws from it still differ from seed
to seed.
"""

from __future__ import annotations

from genbench_families.budgets import _budgets

VQVAE_BUDGETS = _budgets(
    smoke={
        "image": {
            "codes": 16,
            "code_dim": 4,
            "width": 16,
            "steps": 60,
            "batch_size": 32,
            "lr": 3e-3,
            "restart_every": 20,
            "sample_mode": False,
            "prior": {"width": 16, "layers": 2, "steps": 60, "batch_size": 32, "lr": 3e-3},
        },
        "toy": {
            "codes": 16,
            "code_dim": 2,
            "width": 32,
            "steps": 150,
            "batch_size": 128,
            "lr": 3e-3,
            "restart_every": 50,
            "sample_mode": False,
            "prior": {"width": 8, "layers": 1, "steps": 100, "batch_size": 128, "lr": 1e-2},
        },
        "audio": {
            "codes": 16,
            "code_dim": 4,
            "width": 8,
            "steps": 20,
            "batch_size": 8,
            "lr": 3e-3,
            "restart_every": 10,
            "sample_mode": False,
            "prior": {"width": 8, "layers": 2, "steps": 20, "batch_size": 8, "lr": 3e-3},
        },
    },
    default={
        "image": {
            "codes": 256,
            "code_dim": 16,
            "width": 32,
            "steps": 1200,
            "batch_size": 32,
            "lr": 2e-3,
            "restart_every": 100,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
            "prior": {
                "width": 48,
                "layers": 4,
                "steps": 1000,
                "batch_size": 32,
                "lr": 2e-3,
                "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
            },
        },
        "toy": {
            "codes": 128,
            "code_dim": 2,
            "width": 128,
            "steps": 2500,
            "batch_size": 256,
            "lr": 3e-3,
            "restart_every": 100,
            "sample_mode": False,
            "schedule": {"warmup_steps": 100, "decay": "cosine", "final_fraction": 0.02},
            "prior": {"width": 8, "layers": 1, "steps": 500, "batch_size": 256, "lr": 1e-2},
        },
        "audio": {
            "codes": 256,
            "code_dim": 16,
            "width": 64,
            "steps": 400,
            "batch_size": 32,
            "lr": 2e-3,
            "restart_every": 50,
            "prior": {"width": 32, "layers": 10, "steps": 300, "batch_size": 16, "lr": 2e-3},
        },
    },
    full={
        "image": {
            "codes": 512,
            "code_dim": 32,
            "width": 64,
            "steps": 50_000,
            "batch_size": 128,
            "lr": 1e-3,
            "restart_every": 500,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.05},
            "prior": {
                "width": 128,
                "layers": 8,
                "steps": 50_000,
                "batch_size": 128,
                "lr": 1e-3,
                "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.05},
                "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            },
        },
        "toy": {
            "codes": 256,
            "code_dim": 2,
            "width": 128,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 1e-3,
            "restart_every": 500,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            "sample_mode": False,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.02},
            "prior": {
                "width": 8,
                "layers": 1,
                "steps": 2000,
                "batch_size": 256,
                "lr": 1e-2,
                "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            },
        },
        "audio": {
            "codes": 512,
            "code_dim": 32,
            "width": 128,
            "steps": 20_000,
            "batch_size": 64,
            "lr": 1e-3,
            "restart_every": 500,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            "prior": {
                "width": 64,
                "layers": 20,
                "steps": 20_000,
                "batch_size": 64,
                "lr": 1e-3,
                "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            },
        },
    },
)
