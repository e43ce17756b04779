"""Hyper-parameters of the latent diffusion rows (``latent-diffusion-ddpm``
and ``latent-diffusion-ddim``, which share one trained model, and the
class-conditional ``latent-diffusion-cfg``, which trains its own on the
same budgets) per budget and modality, with the conventions of
:mod:`genbench_families.budgets`: ``smoke`` trains in a second or two,
``default`` in a few CPU minutes per task and seed, ``full`` is sized for
one GPU and not measured. ``steps``,
``batch_size`` and ``lr`` train the autoencoder; ``prior`` holds the latent
:class:`~genbench_families.diffusion.Diffusion`'s, trained after it (at
``full`` the latent model stops early on a held-out share of the latents,
the autoencoder trains its fixed count).

Latents: 4 x 7 x 7 for 28 x 28 images (compression 4), 4 channels at
1/32 of the sample rate for audio (8 kHz clips: 4 x 250, compression 8).
No toy rows: a latent of a 2-D point is no smaller than the point.
``default`` trained in 484-493 s (audio/digits: 3,000 autoencoder steps,
2,800 latent steps) and 123-137 s (image/mnist) per seed on one thread of
the 2-core build machine, two seeds at once; docs/families.md gives the
measurements.
"""

from __future__ import annotations

from genbench_families.budgets import _budgets

_SMOKE_PRIOR = {
    "width": 16,
    "steps": 40,
    "batch_size": 32,
    "lr": 4e-3,
    "ema": 0.9,
    "T": 1000,
    "ddpm_steps": 20,
    "ddim_steps": 10,
    "inversion_steps": 10,
    "vlb_terms": 4,
}

LATENT_DIFFUSION_BUDGETS = _budgets(
    smoke={
        "image": {
            "latent_channels": 4,
            "width": 16,
            "stages": 2,
            "steps": 40,
            "batch_size": 32,
            "lr": 3e-3,
            "prior": _SMOKE_PRIOR,
        },
        "audio": {
            "latent_channels": 4,
            "width": 8,
            "stages": 2,
            "steps": 10,
            "batch_size": 8,
            "lr": 3e-3,
            "spectral_weight": 1.0,
            "prior": {**_SMOKE_PRIOR, "width": 8, "steps": 10, "batch_size": 8},
        },
    },
    default={
        "image": {
            "latent_channels": 4,
            "width": 32,
            "stages": 2,
            "steps": 1500,
            "batch_size": 32,
            "lr": 2e-3,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
            "prior": {
                "width": 48,
                "steps": 3500,
                "batch_size": 64,
                "lr": 2e-3,
                "ema": 0.995,
                "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.1},
                "noise_schedule": "cosine",
                "prediction": "v",
                "T": 1000,
                "ddpm_steps": 50,
                "ddim_steps": 25,
                "inversion_steps": 10,
                "vlb_terms": 16,
            },
        },
        "audio": {
            "latent_channels": 4,
            "width": 48,
            "stages": 2,
            "steps": 3000,
            "batch_size": 16,
            "lr": 6e-3,
            "spectral_weight": 1.0,
            "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.05},
            "prior": {
                "width": 48,
                "steps": 2800,
                "batch_size": 32,
                "lr": 2e-3,
                "ema": 0.995,
                "schedule": {"warmup_steps": 50, "decay": "cosine", "final_fraction": 0.1},
                "noise_schedule": "cosine",
                "prediction": "v",
                "T": 1000,
                "ddpm_steps": 50,
                "ddim_steps": 25,
                "inversion_steps": 10,
                "vlb_terms": 16,
            },
        },
    },
    full={
        "image": {
            "latent_channels": 4,
            "width": 128,
            "stages": 2,
            "steps": 20_000,
            "batch_size": 128,
            "lr": 1e-3,
            "schedule": {"warmup_steps": 500, "decay": "cosine", "final_fraction": 0.05},
            "prior": {
                "width": 128,
                "steps": 50_000,
                "batch_size": 128,
                "lr": 1e-3,
                "ema": 0.999,
                "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.05},
                "noise_schedule": "cosine",
                "prediction": "v",
                "T": 1000,
                "ddpm_steps": 250,
                "ddim_steps": 50,
                "inversion_steps": 50,
                "vlb_terms": 32,
                "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            },
        },
        "audio": {
            "latent_channels": 4,
            "width": 128,
            "stages": 2,
            "steps": 20_000,
            "batch_size": 64,
            "lr": 1e-3,
            "spectral_weight": 1.0,
            "schedule": {"warmup_steps": 500, "decay": "cosine", "final_fraction": 0.05},
            "prior": {
                "width": 128,
                "steps": 50_000,
                "batch_size": 64,
                "lr": 1e-3,
                "ema": 0.999,
                "schedule": {"warmup_steps": 1000, "decay": "cosine", "final_fraction": 0.05},
                "noise_schedule": "cosine",
                "prediction": "v",
                "T": 1000,
                "ddpm_steps": 250,
                "ddim_steps": 50,
                "inversion_steps": 50,
                "vlb_terms": 32,
                "early_stopping": {"holdout_fraction": 0.05, "check_every": 500, "patience": 10},
            },
        },
    },
)
