"""The models this plugin registers and how to build them.

Variants that share a trained network (the DDIM row) declare ``trains_as``
and carry exactly the same budgets (see :mod:`.budgets`). Audio models work
in the mu-law space of :class:`~genbench_families.space.MuLawSpace`. A row
is built by its family's algorithm (:data:`ALGORITHMS`) unless
:data:`ROW_ALGORITHMS` names another for it (the masked autoregressive
flow is a ``flow`` that is not RealNVP, the VQ-VAE a ``vae`` that is not
the VAE, latent diffusion a ``diffusion`` in an autoencoder's latent
space, whose rows leave toy tasks out). Rows whose cold cost would push
``genbench run`` past its 20-minute target are left out of the default
grid (``default_grid=False``: ``genbench run --all-models`` or ``-m NAME``
runs them; docs/families.md).

The class-conditional rows (``diffusion-cfg``, ``flow-matching-cfg``,
``latent-diffusion-cfg``) declare ``conditional_sample``, train on the
task's labels with label dropout and sample with classifier-free guidance
(:mod:`genbench_families.conditioning`); they carry the budgets of their
unconditional twins, so their training compute is the same, and train their
own networks (no ``trains_as``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genbench import ModelSpec
from genbench_families.autoregressive import Autoregressive
from genbench_families.base import GenerativeModel
from genbench_families.budgets import (
    AUTOREGRESSIVE_BUDGETS,
    DIFFUSION_BUDGETS,
    FLOW_BUDGETS,
    GAN_BUDGETS,
    VAE_BUDGETS,
)
from genbench_families.budgets_flow_matching import FLOW_MATCHING_BUDGETS
from genbench_families.budgets_latent import LATENT_DIFFUSION_BUDGETS
from genbench_families.budgets_maf_wgan import MAF_BUDGETS, WGAN_GP_BUDGETS
from genbench_families.budgets_vqvae import VQVAE_BUDGETS
from genbench_families.diffusion import Diffusion
from genbench_families.flow import RealNVP
from genbench_families.flow_matching import FlowMatching
from genbench_families.gan import GAN
from genbench_families.latent_diffusion import LatentDiffusion
from genbench_families.maf import MAF
from genbench_families.nets import factory_for
from genbench_families.space import data_space
from genbench_families.vae import VAE
from genbench_families.vqvae import VQVAE

MODALITIES = ("image", "toy", "audio")
CONDITIONAL_MODALITIES = ("image", "audio")
"""Modalities of the class-conditional rows: those with labelled tasks
(``image/mnist``, ``audio/digits``)."""
CONDITIONING = {"label_dropout": 0.1, "guidance": 1.0}
"""The class-conditional rows' label dropout and plain-``sample`` guidance."""
TWO_STAGE_LADDER = ("steps", "prior.steps")
"""Ladder keys of the two-stage rows (VQ-VAE, latent diffusion): a rung
``default-xK`` trains both the autoencoder and the prior on its codes or
latents K times longer."""


def restricted(
    budgets: Mapping[str, Mapping[str, Any]], modalities: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Budgets keyed by modality with only ``modalities``' rows (the same
    dictionaries): a row must key exactly modalities it declares."""
    return {name: {m: rows[m] for m in modalities} for name, rows in budgets.items()}


ALGORITHMS: dict[str, type[GenerativeModel]] = {
    "vae": VAE,
    "gan": GAN,
    "diffusion": Diffusion,
    "flow": RealNVP,
    "autoregressive": Autoregressive,
    "flow-matching": FlowMatching,
}
"""The algorithm of each family's rows."""

ROW_ALGORITHMS: dict[str, type[GenerativeModel]] = {
    "maf": MAF,
    "vq-vae": VQVAE,
    "latent-diffusion-ddpm": LatentDiffusion,
    "latent-diffusion-ddim": LatentDiffusion,
    "latent-diffusion-cfg": LatentDiffusion,
}
"""Rows built by another algorithm than their family's."""


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="vae",
        family="vae",
        modalities=MODALITIES,
        capabilities={"sample", "log_likelihood", "reconstruct"},
        budgets=VAE_BUDGETS,
        description="VAE, conv/MLP encoder-decoder, discretised-logistic decoder; IWAE bound",
    ),
    ModelSpec(
        name="vae-beta4",
        family="vae",
        modalities=MODALITIES,
        capabilities={"sample", "log_likelihood", "reconstruct"},
        budgets=VAE_BUDGETS,
        options={"beta": 4.0},
        default_grid=False,
        description="β-VAE (β = 4): smoother codes, blurrier reconstructions",
    ),
    ModelSpec(
        name="autoencoder",
        family="vae",
        modalities=MODALITIES,
        capabilities={"sample", "reconstruct"},
        budgets=VAE_BUDGETS,
        options={"autoencoder": True},
        description=(
            "plain autoencoder; samples decode codes drawn from a Gaussian fitted to its "
            "training codes (image default) or N(0, I) codes"
        ),
    ),
    ModelSpec(
        name="vq-vae",
        family="vae",
        modalities=MODALITIES,
        capabilities={"sample", "log_likelihood", "reconstruct"},
        budgets=VQVAE_BUDGETS,
        ladder_keys=TWO_STAGE_LADDER,
        default_grid=False,
        description=(
            "VQ-VAE: codebook with straight-through estimator, commitment loss 0.25, "
            "dead-code restarts; autoregressive prior over the code grid (PixelCNN, "
            "WaveNet, categorical table on toy); likelihood bound log p(z_q) + log p(x|z_q)"
        ),
    ),
    ModelSpec(
        name="gan",
        family="gan",
        modalities=MODALITIES,
        capabilities={"sample"},
        budgets=GAN_BUDGETS,
        options={"loss": "hinge"},
        description="DCGAN/WaveGAN-style GAN, spectrally normalised critic, hinge loss",
    ),
    ModelSpec(
        name="wgan-gp",
        family="gan",
        modalities=MODALITIES,
        capabilities={"sample"},
        budgets=WGAN_GP_BUDGETS,
        options={"loss": "wgan-gp", "penalty": 10.0, "spectral_norm": False},
        description=(
            "WGAN-GP: the GAN row's networks, Wasserstein critic without normalisation, "
            "gradient penalty 10, 5 critic steps per generator step"
        ),
    ),
    ModelSpec(
        name="diffusion-ddpm",
        family="diffusion",
        modalities=MODALITIES,
        capabilities={"sample", "log_likelihood"},
        budgets=DIFFUSION_BUDGETS,
        options={"sampler": "ddpm"},
        description="DDPM (ε-prediction U-Net), ancestral sampler; variational bound",
    ),
    ModelSpec(
        name="diffusion-ddim",
        family="diffusion",
        modalities=MODALITIES,
        capabilities={"sample", "reconstruct"},
        budgets=DIFFUSION_BUDGETS,
        options={"sampler": "ddim"},
        trains_as="diffusion-ddpm",
        description="the DDPM network sampled by DDIM (S ≪ T steps); DDIM-inversion recon",
    ),
    ModelSpec(
        name="diffusion-cfg",
        family="diffusion",
        modalities=CONDITIONAL_MODALITIES,
        capabilities={"sample", "conditional_sample"},
        budgets=restricted(DIFFUSION_BUDGETS, CONDITIONAL_MODALITIES),
        options={"sampler": "ddim", **CONDITIONING},
        default_grid=False,
        description=(
            "class-conditional DDPM network (label dropout 0.1), sampled by DDIM with "
            "classifier-free guidance"
        ),
    ),
    ModelSpec(
        name="latent-diffusion-ddpm",
        family="diffusion",
        modalities=("image", "audio"),
        capabilities={"sample", "reconstruct"},
        budgets=LATENT_DIFFUSION_BUDGETS,
        ladder_keys=TWO_STAGE_LADDER,
        options={"sampler": "ddpm"},
        default_grid=False,
        description=(
            "latent diffusion: KL-regularised conv autoencoder (28x28 -> 4x7x7; audio at "
            "1/32 rate, 4 channels), DDPM on unit-variance latents, decoded; no likelihood"
        ),
    ),
    ModelSpec(
        name="latent-diffusion-ddim",
        family="diffusion",
        modalities=("image", "audio"),
        capabilities={"sample", "reconstruct"},
        budgets=LATENT_DIFFUSION_BUDGETS,
        ladder_keys=TWO_STAGE_LADDER,
        options={"sampler": "ddim"},
        trains_as="latent-diffusion-ddpm",
        default_grid=False,
        description="the latent-diffusion network sampled by DDIM; no likelihood",
    ),
    ModelSpec(
        name="latent-diffusion-cfg",
        family="diffusion",
        modalities=CONDITIONAL_MODALITIES,
        capabilities={"sample", "conditional_sample", "reconstruct"},
        budgets=LATENT_DIFFUSION_BUDGETS,
        ladder_keys=TWO_STAGE_LADDER,
        options={"sampler": "ddim", **CONDITIONING},
        default_grid=False,
        description=(
            "class-conditional latent diffusion: the latent-diffusion autoencoder (trained "
            "without labels), a conditional latent denoiser (label dropout 0.1), DDIM with "
            "classifier-free guidance"
        ),
    ),
    ModelSpec(
        name="realnvp",
        family="flow",
        modalities=MODALITIES,
        capabilities={"sample", "log_likelihood", "reconstruct"},
        budgets=FLOW_BUDGETS,
        description="RealNVP: affine couplings, checkerboard/channel masks, multi-scale",
    ),
    ModelSpec(
        name="maf",
        family="flow",
        modalities=("image", "toy"),
        capabilities={"sample", "log_likelihood", "reconstruct"},
        budgets=MAF_BUDGETS,
        description=(
            "masked autoregressive flow: stacked affine MADEs, reversed orders, actnorm; "
            "no audio (sampling takes 8,000 sequential steps per MADE)"
        ),
    ),
    ModelSpec(
        name="flow-matching",
        family="flow-matching",
        modalities=MODALITIES,
        capabilities={"sample", "log_likelihood"},
        budgets=FLOW_MATCHING_BUDGETS,
        options={"solver": "heun", "ode_steps": 10},
        default_grid=False,
        description=(
            "flow matching on linear paths (diffusion's networks predict the velocity), "
            "Heun ODE sampler; likelihood by the instantaneous change of variables"
        ),
    ),
    ModelSpec(
        name="flow-matching-euler8",
        family="flow-matching",
        modalities=MODALITIES,
        capabilities={"sample"},
        budgets=FLOW_MATCHING_BUDGETS,
        options={"solver": "euler", "ode_steps": 8, "likelihood": False},
        trains_as="flow-matching",
        default_grid=False,
        description="the flow-matching network sampled by 8 Euler steps (NFE 8)",
    ),
    ModelSpec(
        name="flow-matching-cfg",
        family="flow-matching",
        modalities=CONDITIONAL_MODALITIES,
        capabilities={"sample", "conditional_sample"},
        budgets=restricted(FLOW_MATCHING_BUDGETS, CONDITIONAL_MODALITIES),
        options={"solver": "heun", "ode_steps": 10, **CONDITIONING},
        default_grid=False,
        description=(
            "class-conditional flow matching (label dropout 0.1), Heun ODE sampler with "
            "classifier-free guidance"
        ),
    ),
    ModelSpec(
        name="pixelcnn",
        family="autoregressive",
        modalities=MODALITIES,
        capabilities={"sample", "log_likelihood"},
        budgets=AUTOREGRESSIVE_BUDGETS,
        description="PixelCNN (categorical levels); WaveNet on audio; MADE mixture on toy",
    ),
)

SPECS_BY_NAME: dict[str, ModelSpec] = {spec.name: spec for spec in SPECS}


def build(
    spec: ModelSpec,
    shape: tuple[int, ...],
    levels: int | None,
    modality: str,
    budget: str,
    num_classes: int | None = None,
) -> GenerativeModel:
    """A freshly initialised model for ``spec`` on examples of ``shape``;
    class-conditional on ``num_classes`` classes for a row declaring
    ``conditional_sample`` (which needs it), built as always otherwise
    (which refuses it)."""
    conditional = "conditional_sample" in spec.capabilities
    if conditional != (num_classes is not None):
        need = "needs" if conditional else "takes no"
        raise ValueError(f"row {spec.name!r} {need} num_classes, got {num_classes!r}")
    space = data_space(shape, levels, modality)
    algorithm = ROW_ALGORITHMS.get(spec.name, ALGORITHMS[spec.family])
    classes = {"num_classes": num_classes} if conditional else {}
    return algorithm(
        space,
        factory_for(modality),
        **spec.hyperparameters(budget, modality),
        **spec.options,
        **classes,
    )


def train_examples(hyperparameters: Mapping[str, Any]) -> float | None:
    """Training examples a model's schedule draws from the training split:
    ``steps × batch_size``, times ``critic_steps`` for a GAN (each critic
    update draws its own real batch; generator updates draw none), plus
    the ``prior``'s ``steps × batch_size`` for a VQ-VAE (its prior trains
    on the training examples' codes, one example per code grid). A row
    with early stopping gives the full schedule's count, an upper bound on
    what a stopped run drew. ``None`` when the row has no ``steps`` or
    ``batch_size``. Reported by ``model_info`` as ``train_examples``: the
    device-independent compute of the leaderboard's quality-per-compute
    section."""
    if "steps" not in hyperparameters or "batch_size" not in hyperparameters:
        return None
    draws = int(hyperparameters["steps"]) * int(hyperparameters.get("critic_steps", 1))
    examples = draws * int(hyperparameters["batch_size"])
    prior = hyperparameters.get("prior")
    if prior is not None:
        examples += int(prior["steps"]) * int(prior["batch_size"])
    return float(examples)
