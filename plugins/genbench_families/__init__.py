"""genbench's built-in model families: VAE (with β-VAE, autoencoder and
VQ-VAE variants), GAN (hinge and WGAN-GP), diffusion (DDPM and DDIM samplers),
RealNVP and masked autoregressive flows, and PixelCNN (WaveNet on audio),
for image, toy and audio tasks (the MAF for image and toy tasks only).

An ordinary plugin, registered through the ``genbench`` entry-point group as
``families``. Algorithms (losses, samplers, likelihood bounds) live in one
module per family; networks come from per-modality factories in
:mod:`genbench_families.nets`.
"""

from genbench_families.plugin import (
    FittedModel,
    fit,
    log_likelihood,
    model_info,
    reconstruct,
    register_models,
    sample,
)

__all__ = [
    "FittedModel",
    "fit",
    "log_likelihood",
    "model_info",
    "reconstruct",
    "register_models",
    "sample",
]
