"""VAE family: the IWAE bound, its normalisation, and the β-VAE and
autoencoder variants."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from genbench_families.nets import image
from genbench_families.space import DataSpace
from genbench_families.vae import VAE
from test_families_support import TinyBarsTask, fit_model, perturb


def _vae(shape=(1, 2, 2), levels=4, **options) -> VAE:
    torch.manual_seed(0)
    settings = dict(latent_dim=2, width=8, steps=0, batch_size=8, lr=1e-3, importance_samples=4)
    return VAE(DataSpace(shape, levels), image, **{**settings, **options}).eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return fit_model("vae", TinyBarsTask(), tmp_path_factory.mktemp("vae")).model


def test_iwae_is_above_the_elbo_and_grows_with_the_number_of_samples(trained):
    x = trained.space.encode(TinyBarsTask().load().test).repeat(8, 1, 1, 1)
    bounds = {}
    for k in (1, 8, 64):  # independent draws for each k
        noise = torch.randn(
            len(x), k, trained.latent_dim, generator=torch.Generator().manual_seed(k)
        )
        with torch.no_grad():
            weights = trained.log_importance_weights(x, noise)
        bounds[k] = (torch.logsumexp(weights, dim=1) - math.log(k)).mean().item()
        if k == 64:
            elbo = weights.mean().item()
    assert bounds[64] > elbo
    assert bounds[1] < bounds[8] < bounds[64]


def test_importance_weighted_probabilities_of_a_whole_domain_sum_to_one():
    # E[exp(IWAE_S)] = p(x) exactly, so over every 2x2 image with 4 levels the
    # estimates sum to one up to Monte Carlo error
    model = _vae(importance_samples=512)
    perturb(model, 0.2)
    every_image = torch.tensor(list(itertools.product(range(4), repeat=4)), dtype=torch.uint8)
    x = model.space.encode(every_image.view(-1, 1, 2, 2))
    result = model.log_likelihood(x, torch.Generator().manual_seed(1))
    total = result.nats.double().exp().sum().item()
    assert abs(total - 1.0) < 0.03
    assert not result.exact and result.method == "iwae"
    assert result.details["importance_samples"] == 512
    assert result.details["iwae_nats_mean"] >= result.details["elbo_nats_mean"]


def test_beta_weights_the_kl_term():
    model = _vae()
    x = model.space.encode(torch.randint(0, 4, (16, 1, 2, 2), dtype=torch.uint8))
    losses = {}
    for beta in (1.0, 4.0):
        model.beta = beta
        losses[beta] = model.loss(x, torch.Generator().manual_seed(3)).item()
    mean, log_var = model.encode(x)
    kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(1).mean().item()
    assert math.isclose(losses[4.0] - losses[1.0], 3 * kl / 4, rel_tol=1e-4)


def test_autoencoder_reconstructs_and_declares_no_likelihood(tmp_path):
    task = TinyBarsTask()
    fitted = fit_model("autoencoder", task, tmp_path, steps=100, lr=1e-2).model
    assert fitted.capabilities == {"sample", "reconstruct"}
    x = fitted.space.encode(task.load().test)
    error = (fitted.reconstruct(x) - x).abs().mean()
    shuffled = (fitted.reconstruct(x) - x.roll(1, dims=0)).abs().mean()
    assert error < 0.4 * shuffled
    with pytest.raises(NotImplementedError, match="defines no likelihood"):
        fitted.log_likelihood(x, torch.Generator())


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="beta must be positive"):
        _vae(beta=0.0)
    with pytest.raises(ValueError, match="importance_samples must be >= 1"):
        _vae(importance_samples=0)
