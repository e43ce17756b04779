"""Hyper-parameters of every family per budget and modality.

Each budget holds one set per modality (``{"image": {...}, "toy": {...},
"audio": {...}}``): the same row trains a conv net on images, an MLP on toy
data and a 1-D conv net (a WaveNet for the autoregressive row) on audio.
Keys are the keyword arguments of the family's algorithm class.

The ``default`` image budgets were chosen by training each family on
``image/mnist`` for a fixed single-threaded CPU time and comparing FID and
bits/dim (docs/families.md lists the measurements); the ``default`` audio
budgets keep each family's training on ``audio/digits`` within about 90 s
of one CPU core; ``smoke`` trains in a second or two on ``image/digits``,
the toy tasks and short audio clips.

``full`` is sized for one modern GPU on ``image/mnist-full`` (49,999
training images): 50,000-100,000 steps (at most 64-270 epochs), larger
networks and, for every family but the GAN, early stopping on a held-out
5 % of the training split that restores the best check's weights (so a
``full`` run on ``image/mnist``'s 3,000 images keeps its best held-out
weights instead of memorising). Its GPU cost is not yet measured and its
hyper-parameters are not tuned; docs/families.md gives the step counts and
the CPU seconds per step measured for each row. The audio ``full`` rows are
unchanged.
"""

from __future__ import annotations

from typing import Any


def _budgets(smoke: dict, default: dict, full: dict) -> dict[str, dict[str, dict[str, Any]]]:
    return {"smoke": smoke, "default": default, "full": full}


VAE_BUDGETS = _budgets(
    smoke={
        "image": {
            "latent_dim": 8,
            "width": 16,
            "steps": 60,
            "batch_size": 32,
            "lr": 5e-3,
            "importance_samples": 8,
        },
        "toy": {
            "latent_dim": 2,
            "width": 32,
            "steps": 150,
            "batch_size": 128,
            "lr": 3e-3,
            "importance_samples": 16,
            "kl_warmup": 0.5,
        },
        "audio": {
            "latent_dim": 250,
            "width": 8,
            "steps": 20,
            "batch_size": 8,
            "lr": 3e-3,
            "importance_samples": 4,
            "kl_warmup": 0.5,
        },
    },
    default={
        "image": {
            "latent_dim": 16,
            "width": 32,
            "steps": 2000,
            "batch_size": 32,
            "lr": 5e-3,
            "importance_samples": 16,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
            "fitted_codes": True,
        },
        "toy": {
            "latent_dim": 2,
            "width": 128,
            "steps": 3400,
            "batch_size": 256,
            "lr": 3e-3,
            "importance_samples": 64,
            "kl_warmup": 0.5,
            "schedule": {"warmup_steps": 100, "decay": "cosine", "final_fraction": 0.02},
        },
        "audio": {
            "latent_dim": 1000,
            "width": 32,
            "steps": 800,
            "batch_size": 32,
            "lr": 2e-3,
            "importance_samples": 16,
            "kl_warmup": 0.5,
        },
    },
    full={
        "image": {
            "latent_dim": 32,
            "width": 64,
            "blocks": 2,
            "steps": 60_000,
            "batch_size": 128,
            "lr": 1e-3,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.05},
            "importance_samples": 1000,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "toy": {
            "latent_dim": 2,
            "width": 128,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 1e-3,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.02},
            "importance_samples": 1000,
            "kl_warmup": 0.5,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "audio": {
            "latent_dim": 2000,
            "width": 64,
            "steps": 20_000,
            "batch_size": 64,
            "lr": 1e-3,
            "importance_samples": 1000,
            "kl_warmup": 0.5,
        },
    },
)

GAN_BUDGETS = _budgets(
    smoke={
        "image": {"latent_dim": 16, "width": 16, "steps": 40, "batch_size": 32, "lr": 2e-4},
        "toy": {"latent_dim": 8, "width": 32, "steps": 150, "batch_size": 128, "lr": 1e-3},
        "audio": {"latent_dim": 16, "width": 8, "steps": 20, "batch_size": 8, "lr": 2e-4},
    },
    default={
        "image": {
            "latent_dim": 32,
            "width": 32,
            "steps": 1500,
            "batch_size": 32,
            "lr": 5e-4,
            "betas": [0.0, 0.9],
            "ema": 0.999,
        },
        "toy": {
            "latent_dim": 8,
            "width": 64,
            "steps": 3000,
            "batch_size": 128,
            "lr": 3e-3,
            "betas": [0.0, 0.9],
            "ema": 0.999,
        },
        "audio": {"latent_dim": 64, "width": 32, "steps": 800, "batch_size": 32, "lr": 2e-4},
    },
    full={
        "image": {
            "latent_dim": 64,
            "width": 64,
            "blocks": 2,
            "steps": 50_000,
            "batch_size": 64,
            "lr": 2e-4,
            "betas": [0.0, 0.9],
            "ema": 0.999,
        },
        "toy": {
            "latent_dim": 8,
            "width": 128,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 5e-4,
            "betas": [0.0, 0.9],
            "ema": 0.999,
        },
        "audio": {"latent_dim": 100, "width": 64, "steps": 20_000, "batch_size": 64, "lr": 1e-4},
    },
)

DIFFUSION_BUDGETS = _budgets(
    smoke={
        "image": {
            "width": 16,
            "steps": 60,
            "batch_size": 32,
            "lr": 4e-3,
            "ema": 0.9,
            "T": 1000,
            "ddpm_steps": 20,
            "ddim_steps": 10,
            "inversion_steps": 10,
            "vlb_terms": 4,
        },
        "toy": {
            "width": 32,
            "steps": 200,
            "batch_size": 128,
            "lr": 1e-2,
            "ema": 0.95,
            "T": 1000,
            "ddpm_steps": 50,
            "ddim_steps": 20,
            "inversion_steps": 20,
            "vlb_terms": 8,
        },
        "audio": {
            "width": 8,
            "steps": 20,
            "batch_size": 8,
            "lr": 4e-3,
            "ema": 0.9,
            "T": 1000,
            "ddpm_steps": 10,
            "ddim_steps": 5,
            "inversion_steps": 5,
            "vlb_terms": 4,
        },
    },
    default={
        "image": {
            "width": 24,
            "steps": 950,
            "batch_size": 32,
            "lr": 4e-3,
            "ema": 0.995,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.1},
            "noise_schedule": "cosine",
            "prediction": "v",
            "T": 1000,
            "ddpm_steps": 20,
            "ddim_steps": 20,
            "inversion_steps": 10,
            "vlb_terms": 16,
        },
        "toy": {
            "width": 128,
            "steps": 3400,
            "batch_size": 256,
            "lr": 3e-3,
            "ema": 0.995,
            "schedule": {"warmup_steps": 100, "decay": "cosine", "final_fraction": 0.05},
            "noise_schedule": "cosine",
            "prediction": "v",
            "t_power": 2.0,
            "T": 1000,
            "ddpm_steps": 1000,
            "ddim_steps": 50,
            "inversion_steps": 50,
            "vlb_terms": 64,
        },
        "audio": {
            "width": 32,
            "steps": 700,
            "batch_size": 32,
            "lr": 4e-3,
            "ema": 0.995,
            "T": 1000,
            "ddpm_steps": 25,
            "ddim_steps": 10,
            "inversion_steps": 10,
            "vlb_terms": 8,
        },
    },
    full={
        "image": {
            "width": 64,
            "steps": 100_000,
            "batch_size": 128,
            "lr": 2e-4,
            "ema": 0.9999,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.1},
            "noise_schedule": "cosine",
            "prediction": "v",
            "T": 1000,
            "ddpm_steps": 1000,
            "ddim_steps": 50,
            "inversion_steps": 50,
            "vlb_terms": 999,
            "early_stopping": {
                "holdout_fraction": 0.05,
                "check_every": 1000,
                "patience": 10,
                "holdout_batches": 16,
            },
        },
        "toy": {
            "width": 128,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 1e-3,
            "ema": 0.999,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.05},
            "noise_schedule": "cosine",
            "prediction": "v",
            "t_power": 2.0,
            "T": 1000,
            "ddpm_steps": 1000,
            "ddim_steps": 50,
            "inversion_steps": 50,
            "vlb_terms": 999,
            "early_stopping": {
                "holdout_fraction": 0.05,
                "check_every": 1000,
                "patience": 10,
                "holdout_batches": 16,
            },
        },
        "audio": {
            "width": 64,
            "steps": 50_000,
            "batch_size": 64,
            "lr": 2e-4,
            "ema": 0.9999,
            "T": 1000,
            "ddpm_steps": 1000,
            "ddim_steps": 50,
            "inversion_steps": 50,
            "vlb_terms": 999,
        },
    },
)

FLOW_BUDGETS = _budgets(
    smoke={
        "image": {
            "logit_alpha": 1e-6,
            "scales": 2,
            "couplings": 1,
            "width": 16,
            "native_first": True,
            "actnorm": True,
            "log_scale_bound": 4.0,
            "blocks": 1,
            "steps": 60,
            "batch_size": 32,
            "lr": 1e-3,
            "ema": 0.9,
        },
        "toy": {
            "scales": 1,
            "couplings": 3,
            "width": 32,
            "actnorm": True,
            "log_scale_bound": 4.0,
            "blocks": 1,
            "steps": 100,
            "batch_size": 128,
            "lr": 3e-3,
            "ema": 0.95,
        },
        "audio": {
            "fold": 16,
            "scales": 2,
            "couplings": 1,
            "width": 8,
            "steps": 20,
            "batch_size": 8,
            "lr": 1e-3,
            "ema": 0.9,
        },
    },
    default={
        "image": {
            "logit_alpha": 1e-6,
            "scales": 2,
            "couplings": 2,
            "width": 32,
            "native_first": True,
            "actnorm": True,
            "log_scale_bound": 4.0,
            "blocks": 1,
            "steps": 360,
            "batch_size": 32,
            "lr": 1e-3,
            "ema": 0.99,
        },
        "toy": {
            "scales": 1,
            "couplings": 4,
            "width": 64,
            "actnorm": True,
            "log_scale_bound": 4.0,
            "blocks": 1,
            "steps": 1000,
            "batch_size": 256,
            "lr": 2e-3,
            "ema": 0.99,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
        },
        "audio": {
            "fold": 16,
            "scales": 3,
            "couplings": 2,
            "width": 32,
            "steps": 400,
            "batch_size": 16,
            "lr": 1e-3,
            "ema": 0.99,
        },
    },
    full={
        "image": {
            "logit_alpha": 1e-6,
            "scales": 3,
            "couplings": 4,
            "width": 64,
            "blocks": 2,
            "native_first": True,
            "actnorm": True,
            "log_scale_bound": 4.0,
            "steps": 60_000,
            "batch_size": 64,
            "lr": 1e-3,
            "ema": 0.999,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.1},
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "toy": {
            "scales": 1,
            "couplings": 6,
            "width": 128,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 1e-3,
            "ema": 0.999,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "audio": {
            "fold": 16,
            "scales": 3,
            "couplings": 3,
            "width": 64,
            "steps": 30_000,
            "batch_size": 32,
            "lr": 1e-3,
            "ema": 0.999,
        },
    },
)

AUTOREGRESSIVE_BUDGETS = _budgets(
    smoke={
        "image": {"width": 16, "layers": 2, "steps": 60, "batch_size": 16, "lr": 5e-3},
        "toy": {
            "width": 32,
            "layers": 2,
            "steps": 200,
            "batch_size": 128,
            "lr": 1e-2,
            "components": 8,
        },
        "audio": {"width": 8, "layers": 2, "steps": 10, "batch_size": 1, "lr": 5e-3},
    },
    default={
        "image": {
            "width": 32,
            "layers": 4,
            "steps": 700,
            "batch_size": 16,
            "lr": 5e-3,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
        },
        "toy": {
            "width": 64,
            "layers": 2,
            "steps": 1000,
            "batch_size": 256,
            "lr": 1e-2,
            "components": 8,
        },
        "audio": {"width": 16, "layers": 10, "steps": 300, "batch_size": 2, "lr": 3e-3},
    },
    full={
        "image": {
            "width": 64,
            "layers": 12,
            "kernel": 3,
            "steps": 60_000,
            "batch_size": 64,
            "lr": 1e-3,
            "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.1},
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "toy": {
            "width": 128,
            "layers": 3,
            "steps": 20_000,
            "batch_size": 256,
            "lr": 1e-3,
            "components": 16,
            "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
        },
        "audio": {"width": 64, "layers": 20, "steps": 30_000, "batch_size": 4, "lr": 1e-3},
    },
)
