"""VAE family: the IWAE bound, its normalisation, the β-VAE and
autoencoder variants, how samples are drawn, the decoder's initial
log-scale and early stopping."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from genbench_families.distributions import discretised_logistic_mode, discretised_logistic_sample
from genbench_families.nets import image, toy
from genbench_families.space import DataSpace
from genbench_families.training import EarlyStopping
from genbench_families.vae import VAE
from test_families_support import TinyBarsTask, assert_close, fit_model, perturb


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


def test_samples_are_the_decoders_mode_or_a_draw_from_it():
    for space, nets in ((DataSpace((2,), None), toy), (DataSpace((1, 2, 2), 4), image)):
        settings = dict(latent_dim=2, width=8, steps=0, batch_size=8, lr=1e-3)
        model = VAE(space, nets, importance_samples=4, **settings).eval()
        perturb(model, 0.3)
        z = torch.randn(6, 2, generator=torch.Generator().manual_seed(5))
        loc, log_scale = model.decode(z)
        mode = model.sample(6, torch.Generator().manual_seed(5))
        if space.discrete:
            assert torch.equal(mode, discretised_logistic_mode(loc, 4))
        else:
            assert torch.equal(mode, loc)
        assert model.diagnostics(z) == {"samples_from_decoder_mode": 1.0}
        model.sample_mode = False
        generator = torch.Generator().manual_seed(5)
        drawn = model.sample(6, generator)
        again = torch.Generator().manual_seed(5)
        torch.randn(6, 2, generator=again)  # the codes, as drawn by sample
        if space.discrete:
            assert torch.equal(drawn, discretised_logistic_sample(loc, log_scale, 4, again))
        else:
            expected = loc + log_scale.exp() * torch.randn(loc.shape, generator=again)
            assert torch.equal(drawn, expected)
        assert model.diagnostics(z) == {"samples_from_decoder_mode": 0.0}


def test_image_decoder_log_scale_starts_where_asked():
    model = _vae(shape=(1, 8, 8), levels=17, initial_log_scale=-3.0)
    bias = model.decoder.body[-2].bias.view(2, -1)  # location channels, then log-scale
    assert torch.all(bias[1] == -3.0) and torch.all(bias[0].abs() < 1)
    deeper = _vae(shape=(1, 8, 8), levels=17, blocks=1, initial_log_scale=-2.0)
    assert torch.all(deeper.decoder.body[-2].bias.view(2, -1)[1] == -2.0)
    loc, log_scale = deeper.decode(torch.zeros(3, 2))
    assert loc.shape == log_scale.shape == (3, 1, 8, 8)


def test_early_stopping_checks_do_not_advance_the_kl_warm_up():
    task = TinyBarsTask()
    model = _vae(shape=(1, 4, 4), steps=12, kl_warmup=1.0)
    model.early_stopping = EarlyStopping(holdout_fraction=0.25, check_every=2, patience=100)
    seen: list[int] = []
    weight = model.kl_weight
    model.kl_weight = lambda step: seen.append(step) or weight(step)
    model.space.fit_statistics(task.load().train)
    losses = model.fit(model.space.encode(task.load().train), torch.Generator().manual_seed(0))
    assert len(losses) == 12 and seen == list(range(12))
    with pytest.raises(ValueError, match="holdout_fraction must lie in"):
        _vae(early_stopping={"holdout_fraction": 1.5})


def test_autoencoder_samples_decode_codes_from_the_gaussian_fitted_to_its_training_codes():
    settings = dict(latent_dim=2, width=8, steps=0, batch_size=8, lr=1e-3, importance_samples=4)
    space = DataSpace((2,), None)
    model = VAE(space, toy, autoencoder=True, fitted_codes=True, **settings).eval()
    perturb(model, 0.3)
    data = torch.randn(200, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([3, 0.5])
    model.fit_code_distribution(data)
    codes = model.encode(data)[0].double()
    assert_close(model.code_mean, codes.mean(0), atol=1e-5)
    covariance = (model.code_scale @ model.code_scale.T).double()
    assert_close(covariance, torch.cov(codes.T), atol=1e-5)
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(7))
    expected = model.decode(model.code_mean + z @ model.code_scale.T)[0]
    assert torch.equal(model.sample(4, torch.Generator().manual_seed(7)), expected)
    with pytest.raises(ValueError, match="needs >= 2 examples, got 1"):
        model.fit_code_distribution(data[:1])
    assert not _vae(fitted_codes=True).fitted_codes  # a VAE samples its prior
