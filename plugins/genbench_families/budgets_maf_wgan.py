"""Hyper-parameters of the masked autoregressive flow (``maf``) and
WGAN-GP (``wgan-gp``) rows per budget and modality, with the conventions
of :mod:`genbench_families.budgets` (one row per modality; ``smoke``
trains in a second or two, ``default`` in about the CPU time of the other
rows of its modality on one thread, ``full`` is sized for one GPU and not
measured). docs/families.md gives the measurements.

The MAF has no audio rows: sampling an 8,000-sample clip takes 8,000
sequential steps per MADE. WGAN-GP's ``critic_steps`` (the paper's
``n_critic = 5``) lives here rather than in the row's options so that
:func:`~genbench_families.catalogue.train_examples` counts its real
batches; ``steps`` counts generator updates. Its ``default`` learning
rates exceed the paper's 1e-4 (kept at ``smoke`` and ``full``): on
``image/mnist`` 300 generator steps at 1e-4 scored FID 318 against 75 at
1e-3 (docs/families.md lists the measurements).
"""

from __future__ import annotations

from genbench_families.budgets import _budgets

_MAF_IMAGE = {"logit_alpha": 1e-6, "actnorm": True, "log_scale_bound": 4.0}
"""The image recipe shared by every budget: RealNVP's tiny logit ``α`` and
log-scale bound."""

MAF_BUDGETS = _budgets(
    smoke={
        "image": {
            **_MAF_IMAGE,
            "layers": 2,
            "width": 64,
            "steps": 60,
            "batch_size": 32,
            "lr": 1e-3,
            "ema": 0.9,
        },
        "toy": {
            "layers": 4,
            "width": 32,
            "hidden_layers": 2,
            "log_scale_bound": 4.0,
            "out_std": 0.01,
            "steps": 100,
            "batch_size": 128,
            "lr": 3e-3,
            "ema": 0.95,
        },
    },
    default={
        "image": {
            **_MAF_IMAGE,
            "layers": 5,
            "width": 512,
            "steps": 700,
            "batch_size": 32,
            "lr": 2e-3,
            "ema": 0.99,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
        },
        "toy": {
            "layers": 8,
            "width": 64,
            "hidden_layers": 2,
            "log_scale_bound": 4.0,
            "out_std": 0.01,
            "steps": 1000,
            "batch_size": 256,
            "lr": 2e-3,
            "ema": 0.99,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
        },
    },
    full={
        "image": {
            **_MAF_IMAGE,
            "layers": 10,
            "width": 1024,
            "steps": 60_000,
            "batch_size": 64,
            "lr": 1e-3,
            "ema": 0.999,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.1},
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "toy": {
            "layers": 10,
            "width": 128,
            "hidden_layers": 2,
            "log_scale_bound": 4.0,
            "out_std": 0.01,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 1e-3,
            "ema": 0.999,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
    },
)

WGAN_GP_BUDGETS = _budgets(
    smoke={
        "image": {
            "latent_dim": 16,
            "width": 16,
            "steps": 8,
            "critic_steps": 5,
            "batch_size": 32,
            "lr": 1e-4,
        },
        "toy": {
            "latent_dim": 8,
            "width": 32,
            "steps": 30,
            "critic_steps": 5,
            "batch_size": 128,
            "lr": 1e-4,
        },
        "audio": {
            "latent_dim": 16,
            "width": 8,
            "steps": 4,
            "critic_steps": 5,
            "batch_size": 8,
            "lr": 1e-4,
        },
    },
    default={
        "image": {
            "latent_dim": 32,
            "width": 32,
            "steps": 300,
            "critic_steps": 5,
            "batch_size": 32,
            "lr": 1e-3,
        },
        "toy": {
            "latent_dim": 8,
            "width": 64,
            "steps": 1000,
            "critic_steps": 5,
            "batch_size": 128,
            "lr": 3e-4,
        },
        "audio": {
            "latent_dim": 64,
            "width": 32,
            "steps": 160,
            "critic_steps": 5,
            "batch_size": 32,
            "lr": 5e-4,
        },
    },
    full={
        "image": {
            "latent_dim": 64,
            "width": 64,
            "blocks": 2,
            "steps": 50_000,
            "critic_steps": 5,
            "batch_size": 64,
            "lr": 1e-4,
        },
        "toy": {
            "latent_dim": 8,
            "width": 128,
            "steps": 20_000,
            "critic_steps": 5,
            "batch_size": 256,
            "lr": 1e-4,
        },
        "audio": {
            "latent_dim": 100,
            "width": 64,
            "steps": 20_000,
            "critic_steps": 5,
            "batch_size": 64,
            "lr": 1e-4,
        },
    },
)
