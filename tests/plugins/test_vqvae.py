"""VQ-VAE: nearest-code quantisation, straight-through gradients, the
codebook and commitment losses, dead-code restarts, the likelihood bound,
codebook usage, bad settings, and the plugin contract (conformance kit)."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_families import plugin
from genbench_families.nets import audio, image, toy
from genbench_families.space import DataSpace
from genbench_families.vqvae import VQVAE, codebook_usage, nearest_codes, straight_through
from test_families_support import TinyBarsTask, TinyBlobsTask, assert_close, fit_model

from genbench.metrics.info import metric_info
from genbench.testing import ConformanceKit

PRIOR = {"width": 8, "layers": 1, "steps": 5, "batch_size": 8, "lr": 1e-3}


def _vqvae(shape=(2,), levels=None, nets=toy, seed=0, **options) -> VQVAE:
    torch.manual_seed(seed)
    settings = dict(codes=4, code_dim=2, width=8, steps=0, batch_size=8, lr=1e-3, prior=PRIOR)
    return VQVAE(DataSpace(shape, levels), nets, **{**settings, **options})


def test_quantisation_picks_the_nearest_code_and_ties_go_to_the_lowest_index():
    codebook = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    vectors = torch.tensor([[0.9, 0.1], [-3.0, 0.0], [0.0, 1.2], [0.0, 0.0], [1.0, 0.0]])
    # [0, 0] is 1 from codes 0 and 1 (tie: 0); [1, 0] equals codes 0 and 3 (tie: 0)
    assert nearest_codes(vectors, codebook).tolist() == [0, 1, 2, 0, 0]
    model = _vqvae()
    with torch.no_grad():
        model.codebook.copy_(codebook)
    indices, z_q = model.quantise(vectors.view(1, 5, 2))
    assert indices.tolist() == [[0, 1, 2, 0, 0]]
    assert torch.equal(z_q[0], codebook[[0, 1, 2, 0, 0]])


def test_straight_through_gradient_reaches_the_encoder_and_equals_the_decoder_input_gradient():
    model = _vqvae((1, 4, 4), levels=4, nets=image, code_dim=3)
    x = TinyBarsTask().load().train[:8]
    x = model.space.encode(x)
    z_e = model.encode(x)
    z_e.retain_grad()
    _, z_q = model.quantise(z_e)
    decoder_input = straight_through(z_e, z_q)
    decoder_input.retain_grad()
    (-model.log_p_x_given_codes(x, decoder_input).sum()).backward()
    assert decoder_input.grad.abs().sum() > 0
    assert torch.equal(z_e.grad, decoder_input.grad)
    first = model.encoder[1].weight.grad
    assert first is not None and first.abs().sum() > 0
    assert model.codebook.grad is None  # the codebook learns from its own loss only
    # the decoder saw the codes, not the encoder outputs
    assert_close(decoder_input.detach(), z_q.detach(), atol=1e-6)
    # and the training loss sends gradient through the same path to the encoder
    model.zero_grad()
    model.loss(x)[0].backward()
    assert model.encoder[1].weight.grad.abs().sum() > 0


def test_codebook_loss_moves_the_chosen_code_towards_the_encoder_outputs():
    model = _vqvae(beta=0.0)
    x = model.space.encode(TinyBlobsTask().load().train[:32])
    with torch.no_grad():
        z_e = model.encode(x)
        indices, _ = model.quantise(z_e)
    code = int(indices.reshape(-1).mode().values)
    chosen = z_e.reshape(-1, 2)[indices.reshape(-1) == code].mean(0)
    loss, _ = model.loss(x)
    loss.backward()
    step = -0.01 * model.codebook.grad[code]
    code_vector = model.codebook[code].detach()
    before = float(((code_vector - chosen) ** 2).sum())
    after = float(((code_vector + step - chosen) ** 2).sum())
    assert after < before
    # the codebook gradient of the mean squared codebook loss, in closed form
    members = z_e.reshape(-1, 2)[indices.reshape(-1) == code]
    expected = 2 * (len(members) * model.codebook[code] - members.sum(0)) / z_e.numel()
    assert_close(model.codebook.grad[code].detach(), expected.detach(), atol=1e-6)
    # unused codes get no gradient
    unused = sorted(set(range(4)) - set(indices.reshape(-1).tolist()))
    for index in unused:
        assert torch.equal(model.codebook.grad[index], torch.zeros(2))


def test_dead_codes_move_onto_encoder_outputs():
    model = _vqvae()
    z_e = torch.tensor([[[5.0, 5.0]], [[6.0, 6.0]]])
    before = model.codebook.detach().clone()
    moved = model.restart_dead_codes(z_e, torch.tensor([3, 0, 1, 0]), torch.Generator())
    assert moved == 2
    assert torch.equal(model.codebook[[0, 2]], before[[0, 2]])
    for index in (1, 3):
        assert model.codebook[index].tolist() in ([5.0, 5.0], [6.0, 6.0])


def test_the_likelihood_bound_is_the_prior_plus_the_decoder_term_on_a_hand_case():
    model = _vqvae(codes=2, code_dim=1)
    with torch.no_grad():
        model.codebook.copy_(torch.tensor([[-1.0], [1.0]]))
        model.prior.offset.copy_(torch.log(torch.tensor([0.25, 0.75])))  # p(code 1) = 3/4
        for layer in (model.prior.net.out, model.encoder[0][-1], model.decoder[1].body[-1]):
            layer.weight.zero_()
        model.prior.net.out.bias.zero_()
        model.encoder[0][-1].bias.fill_(2.0)  # z_e = 2: code 1
        model.decoder[1].body[-1].bias.copy_(torch.tensor([0.5, -0.5, 0.0, math.log(2.0)]))
    x = torch.tensor([[0.5, 0.0], [1.5, -0.5]])
    result = model.log_likelihood(x, torch.Generator())

    # decoder: N(0.5, 1) and N(-0.5, 2²) per coordinate, code 1 for both points
    def log_normal(v, mean, std):
        return -0.5 * ((v - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)

    expected = [
        math.log(0.75) + log_normal(a, 0.5, 1.0) + log_normal(b, -0.5, 2.0) for a, b in x.tolist()
    ]
    assert result.exact is False and "point-mass" in result.details["bound"]
    assert result.nats.tolist() == pytest.approx(expected, abs=1e-5)
    assert result.details["prior_nats_mean"] == pytest.approx(math.log(0.75), abs=1e-6)


def test_codebook_perplexity_closed_forms():
    assert codebook_usage(torch.arange(8).repeat(5), 8) == pytest.approx((8.0, 8))
    assert codebook_usage(torch.full((7,), 3), 8) == pytest.approx((1.0, 1))
    assert codebook_usage(torch.tensor([0, 0, 1, 1]), 8) == pytest.approx((2.0, 2))
    p = torch.tensor([0.5, 0.25, 0.25])
    entropy = float(-(p * p.log()).sum())
    assert codebook_usage(torch.tensor([[0, 0], [1, 2]]), 3)[0] == pytest.approx(math.exp(entropy))
    with pytest.raises(ValueError, match="needs at least one code assignment"):
        codebook_usage(torch.tensor([], dtype=torch.long), 4)
    with pytest.raises(ValueError, match=r"code indices must lie in \[0, 3\], got \[0, 4\]"):
        codebook_usage(torch.tensor([0, 4]), 4)
    info = metric_info("codebook_perplexity")
    assert info.unit == "codes" and info.higher_is_better is True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"codes": 1}, "a codebook needs at least 2 codes, got 1"),
        ({"code_dim": 0}, "code_dim must be >= 1, got 0"),
        ({"beta": -0.5}, "the commitment weight beta must be >= 0, got -0.5"),
        ({"restart_every": -1}, "restart_every must be >= 0, got -1"),
    ],
)
def test_bad_hyperparameters_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        _vqvae(**options)


@pytest.mark.parametrize(
    ("nets", "shape", "grid"),
    [(image, (1, 28, 28), (1, 7, 7)), (audio, (1, 8000), (1, 250)), (toy, (2,), (1,))],
)
def test_code_grids_and_networks_per_modality(nets, shape, grid):
    encoder, decoder, codes_shape = nets.vq_networks(shape, 5, 2, 8)
    z = encoder(torch.zeros(2, *shape))
    assert codes_shape == grid and z.shape == (2, 5, math.prod(grid))
    assert decoder(z).shape == (2, 2, *shape)


def test_fit_trains_both_parts_uses_the_codebook_and_reports_usage(tmp_path):
    table = {"width": 8, "layers": 1, "steps": 400, "batch_size": 128, "lr": 3e-2}
    fitted = fit_model("vq-vae", TinyBlobsTask(), tmp_path, prior=table)
    info = plugin.model_info(fitted)
    assert 1.0 <= info["codebook_perplexity"] <= info["codebook_used"] <= 16
    assert info["codebook_used"] >= 2
    assert info["code_bits"] == 4.0 and info["dims_per_code"] == 2.0
    assert info["train_examples"] == 150 * 128 + 400 * 128  # autoencoder, then prior
    model = fitted.model
    test = model.space.encode(TinyBlobsTask().load().test)
    assert (info["codebook_perplexity"], info["codebook_used"]) == pytest.approx(
        codebook_usage(model.code_indices(test), model.codes)
    )
    # the prior learned the training codes' frequencies (a categorical table on toy)
    train = model.space.encode(TinyBlobsTask().load().train)
    counts = torch.bincount(model.code_indices(train).reshape(-1), minlength=16).double()
    grids = model.prior.space.encode(torch.arange(16).view(16, 1))
    learned = model.prior.log_prob(grids).exp().double().detach()
    assert float((learned - counts / counts.sum()).abs().max()) < 0.02


def test_the_row_passes_the_conformance_kit():
    kit = ConformanceKit.from_plugins()
    report = kit.validate("vq-vae", ("image/kit-2x2", "toy/kit-blobs", "audio/kit-mulaw8"))
    assert not report.failures(), report.table()
    audited = {r.task for r in report.results if r.check == "audit" and r.status == "pass"}
    assert audited == {"image/kit-2x2", "toy/kit-blobs", "audio/kit-mulaw8"}


def test_sorting_the_codebook_relabels_codes_without_changing_the_autoencoder():
    model = _vqvae(codes=6, code_dim=3)
    with torch.no_grad():
        model.codebook.copy_(torch.randn(6, 3, generator=torch.Generator().manual_seed(2)))
    x = model.space.encode(TinyBlobsTask().load().test[:32])
    before = model.reconstruct(x)
    vectors_before = model.quantise(model.encode(x))[1]
    model.sort_codebook()
    assert_close(model.reconstruct(x), before, atol=0.0)
    assert torch.equal(model.quantise(model.encode(x))[1], vectors_before)
    centred = (model.codebook - model.codebook.mean(0)).detach().double()
    direction = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    projections = centred @ direction
    assert torch.all(projections[1:] >= projections[:-1]) or torch.all(
        projections[1:] <= projections[:-1]
    )
