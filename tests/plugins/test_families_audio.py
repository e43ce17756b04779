"""The five families on raw waveforms: the mu-law model space, the 1-D
networks, the flow's sequence layout and the WaveNet (exact, normalised,
with an incremental sampler equal to the full network); every row fitted at
a smoke budget on 20 synthesised clips of 2,000 samples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from genbench_families import plugin
from genbench_families.autoregressive import Autoregressive
from genbench_families.bijections import (
    build_scales,
    checkerboard,
    squeeze_time,
    time_factor,
    unsqueeze_time,
)
from genbench_families.catalogue import SPECS, SPECS_BY_NAME, build
from genbench_families.flow import RealNVP
from genbench_families.nets import audio, image, wavenet
from genbench_families.space import DataSpace, MuLawSpace, data_space
from test_families_support import assert_close, classes_for, fit_model, perturb

from genbench import BUDGETS
from genbench.features.waveform import mulaw_decode
from genbench.tasks.audio import DigitsAudioTask
from genbench.tasks.audio_synth import DigitSynthesisConfig

AUDIO_SPECS = tuple(spec for spec in SPECS if "audio" in spec.modalities)
"""Every row that runs on audio (all but the MAF)."""

SHORT = DigitSynthesisConfig(clips_per_digit=4, num_samples=2000, seed=11)
"""40 clips of 2,000 samples (20 train, 10 test), synthesised in about a second;
folded 16 samples to a frame, they keep 1 s clips' 125 coarsest frames."""


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> DigitsAudioTask:
    return DigitsAudioTask(SHORT, cache_dir=tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="module")
def fitted(task, tmp_path_factory):
    """Every row fitted at its smoke budget on the short clips (the DDIM row
    loads the DDPM row's checkpoint)."""
    directory = tmp_path_factory.mktemp("checkpoints")
    return {spec.name: fit_model(spec.name, task, directory, seed=2) for spec in AUDIO_SPECS}


# -- the mu-law model space ------------------------------------------------------------


def test_mu_law_space_holds_codes_as_bin_centres_channels_first(task):
    space = MuLawSpace(2000, 256)
    waveforms = task.load().test
    codes = task.encode_mulaw(waveforms)
    encoded = space.encode(waveforms)
    assert encoded.shape == (10, 1, 2000) and space.shape == (1, 2000) and space.dims == 2000
    assert torch.equal(encoded, space.encode(codes))
    assert torch.equal(encoded[:, 0], codes.float() * (2 / 255) - 1)
    assert space.discrete and space.log_det() == 0.0


def test_mu_law_space_decodes_bin_centres_to_the_tasks_decoded_codes():
    space = MuLawSpace(256, 256)
    codes = torch.arange(256).view(1, 256)
    decoded = space.decode(space.encode(codes))
    assert decoded.dtype == torch.float32 and decoded.shape == (1, 256)
    assert_close(decoded, mulaw_decode(codes), atol=1e-6)
    assert decoded[0, 128].item() == pytest.approx(8.62e-5, rel=1e-3)  # docs/audio.md


def test_mu_law_space_decodes_continuous_values_without_quantising_and_clamps():
    space = MuLawSpace(3, 256)
    y = torch.tensor([[[0.5, -2.0, 3.0]]])
    decoded = space.decode(y)[0]
    assert decoded[0].item() == pytest.approx((256**0.5 - 1) / 255, rel=1e-6)
    assert decoded[1:].tolist() == [-1.0, 1.0]


def test_mu_law_space_rejects_bad_inputs():
    space = MuLawSpace(4, 256)
    with pytest.raises(ValueError, match=r"expected waveforms of shape \(4,\)"):
        space.encode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"mu-law codes must lie in \[0, 255\]"):
        space.encode(torch.tensor([[0, 1, 2, 256]]))
    with pytest.raises(ValueError, match=r"samples in \[-1, 1\]"):
        space.encode(torch.tensor([[0.0, 0.5, 1.5, 0.0]]))
    with pytest.raises(ValueError, match=r"mono waveforms of shape \(T,\)"):
        data_space((1, 8000), 256, "audio")
    assert type(data_space((1, 8, 8), 17, "image")) is DataSpace


# -- the 1-D networks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "fold", "lengths"),
    [
        (8000, 32, (250, 125)),
        (16000, 32, (500, 250, 125)),
        (2000, 16, (125,)),
        (1024, 32, (32, 16, 8)),
        (24, 4, (6,)),
        (999, 1, (999,)),
    ],
)
def test_plan_folds_samples_into_frames_and_halves_even_frame_counts(length, fold, lengths):
    plan = audio.Plan((1, length))
    assert (plan.fold, plan.lengths, plan.channels) == (fold, lengths, fold)
    assert plan.widths(8)[:3] == [8, 16, 16][: len(lengths)]


def test_fold_moves_consecutive_samples_into_channels_and_unfold_inverts_it():
    x = torch.arange(16.0).view(1, 2, 8)
    folded = audio.Fold(4)(x)
    assert folded.shape == (1, 8, 2)
    assert folded[0, :, 0].tolist() == [0, 1, 2, 3, 8, 9, 10, 11]
    assert folded[0, :4, 1].tolist() == [4, 5, 6, 7]
    assert torch.equal(audio.Unfold(4)(folded), x)


def test_factories_keep_the_shared_contracts_on_one_second_clips():
    torch.manual_seed(0)
    shape, x, t = (1, 8000), torch.rand(2, 1, 8000) * 2 - 1, torch.rand(2)
    encoder, decoder = audio.vae_networks(shape, latent_dim=250, params=2, width=4)
    assert encoder(x).shape == (2, 500)  # means, then log-variances: 2 channels x 125 frames
    out = decoder(torch.randn(2, 250))
    assert out.shape == (2, 2, 1, 8000) and out[:, 1].mean().abs() > 1
    with torch.no_grad():
        decoder.body[-1].weight.zero_()
    assert (decoder(torch.randn(2, 250))[:, 1] == audio.INITIAL_LOG_SCALE).all()
    generator, critic = audio.gan_networks(shape, latent_dim=4, width=4, spectral_norm=True)
    fake = generator(torch.randn(2, 4))
    assert fake.shape == (2, 1, 8000) and fake.abs().max() <= 1 and critic(fake).shape == (2, 1)
    denoiser = audio.denoiser(shape, width=4)
    assert denoiser(x, t).shape == (2, 1, 8000)
    assert denoiser(x, t).abs().max() == 0  # zero-initialised output layer
    conditioner = audio.conditioner(4, 8, width=4)
    assert conditioner(torch.randn(2, 4, 500)).shape == (2, 8, 500)
    wavenet = audio.autoregressive_network(shape, params=256, width=4, layers=3)
    assert wavenet(x).shape == (2, 1, 8000, 256)


def test_vae_code_is_a_sequence_over_the_coarsest_frames():
    with pytest.raises(ValueError, match="must be a multiple of 125, got 100"):
        audio.vae_networks((1, 8000), latent_dim=100, params=2, width=4)


def test_audio_networks_reject_shapes_that_are_not_sequences():
    with pytest.raises(ValueError, match=r"shape \(C, T\)"):
        audio.denoiser((8000,), width=4)
    with pytest.raises(ValueError, match="mono waveforms"):
        audio.autoregressive_network((2, 100), params=4, width=4, layers=2)
    with pytest.raises(ValueError, match="at least one layer"):
        audio.autoregressive_network((1, 100), params=4, width=4, layers=0)


# -- the flow's sequence layout ----------------------------------------------------------


def test_time_squeeze_puts_even_samples_in_the_first_half_of_the_channels():
    x = torch.arange(8.0).view(1, 1, 8)
    squeezed = squeeze_time(x, 4)
    assert squeezed.shape == (1, 4, 2)
    assert squeezed[0, :, 0].tolist() == [0, 2, 1, 3] and squeezed[0, :, 1].tolist() == [4, 6, 5, 7]
    assert (squeezed[0, :2] % 2 == 0).all()  # channel masks split even from odd samples
    assert torch.equal(unsqueeze_time(squeezed, 4), x)
    assert [time_factor(n, 16) for n in (8000, 250, 125, 24)] == [16, 2, 1, 8]


def test_sequence_checkerboards_alternate_time_steps():
    even, odd = checkerboard((2, 5), 0), checkerboard((2, 5), 1)
    assert even.tolist() == [[1, 0, 1, 0, 1]] * 2
    assert torch.equal(even + odd, torch.ones(2, 5))


def test_sequence_layout_folds_first_then_squeezes_by_two_and_factors_out():
    blocks, shapes = build_scales((1, 8000), audio, scales=3, couplings=1, width=4, fold=16)
    assert shapes == [(8, 500), (8, 250), (16, 125)]
    assert sum(math.prod(s) for s in shapes) == 8000
    assert [block.factor for block in blocks] == [16, 2, 2]
    _, shapes = build_scales((1, 8000), audio, scales=4, couplings=1, width=4, fold=16)
    assert shapes[-2:] == [(8, 125), (8, 125)]  # an odd length is not squeezed further
    _, shapes = build_scales((1, 6), audio, scales=3, couplings=1, width=4)
    assert shapes == [(1, 3), (1, 3)]  # one channel left: no further scale


@pytest.mark.parametrize(("shape", "fold"), [((1, 8, 8), 4), ((1, 64), 3), ((1, 64), 0)])
def test_fold_is_a_power_of_two_for_sequences_only(shape, fold):
    nets = audio if len(shape) == 2 else image
    with pytest.raises(ValueError, match="fold must be a power of two"):
        build_scales(shape, nets, scales=1, couplings=1, width=4, fold=fold)


def _audio_flow(length: int, fold: int, seed: int = 0) -> RealNVP:
    torch.manual_seed(seed)
    model = RealNVP(
        MuLawSpace(length, 256), audio, scales=3, couplings=2, width=4, steps=0, batch_size=4,
        lr=1e-3, fold=fold,
    )  # fmt: skip
    perturb(model, 0.1, seed)
    return model.eval()


@pytest.mark.parametrize(("length", "fold"), [(8000, 16), (96, 4)])
def test_audio_flow_round_trip_is_the_identity(length, fold):
    model = _audio_flow(length, fold)
    y = torch.randn(3, 1, length)
    z, log_det = model.forward_flow(y)
    assert z.shape == (3, length) and log_det.abs().min() > 1e-3
    assert_close(model.inverse_flow(z), y, atol=1e-4)


def test_audio_flow_log_determinant_matches_the_brute_force_jacobian():
    model = _audio_flow(16, fold=4).double()
    y = torch.randn(1, 1, 16, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: model.forward_flow(v)[0], y)
    sign, log_abs_det = torch.linalg.slogdet(jacobian.reshape(16, 16))
    assert sign.item() == 1.0
    assert abs(model.forward_flow(y)[1].item() - log_abs_det.item()) < 1e-8


# -- the WaveNet ---------------------------------------------------------------------------


def test_wavenet_sees_exactly_its_receptive_field_of_earlier_samples():
    torch.manual_seed(0)
    net = wavenet.WaveNet((1, 40), params=3, width=6, layers=4)  # dilations 1, 2, 4, 8
    assert net.dilations == [1, 2, 4, 8] and net.receptive_field() == 17
    x = torch.randn(1, 1, 40, requires_grad=True)
    net(x)[0, 0, 30].sum().backward()
    influence = x.grad[0, 0].abs()
    assert (influence[30:] == 0).all() and (influence[: 30 - 17] == 0).all()
    assert (influence[30 - 17 : 30] > 0).all()


def test_wavenet_incremental_sampler_equals_the_full_network():
    torch.manual_seed(1)
    net = wavenet.WaveNet((1, 50), params=5, width=6, layers=6)
    perturb(net, 0.3)
    values = torch.randn(3, 50)
    state = net.start(3)
    recorded = []
    for position in range(50):
        recorded.append(state.params(position))
        state.write(position, values[:, position])
    full = net(values.view(3, 1, 50)).reshape(3, 50, 5)
    assert_close(torch.stack(recorded, dim=1), full, atol=1e-5)
    assert_close(state.values(), values.view(3, 1, 50), atol=0)


def test_probabilities_of_all_length_3_sequences_with_4_levels_sum_to_one():
    torch.manual_seed(2)
    model = Autoregressive(
        DataSpace((1, 3), 4), audio, width=6, layers=3, steps=0, batch_size=4, lr=1e-3
    )
    perturb(model, 0.5, 2)
    every = torch.tensor(list(itertools.product(range(4), repeat=3)), dtype=torch.float32)
    nats = model.log_likelihood((2 * every / 3 - 1).view(64, 1, 3), torch.Generator()).nats
    assert math.isclose(nats.double().exp().sum().item(), 1.0, abs_tol=1e-5)
    assert nats.std() > 0.1  # not the uniform distribution


# -- every row at a smoke budget -----------------------------------------------------------


def test_every_row_but_the_maf_has_audio_budgets_that_build():
    assert [s.name for s in SPECS if s not in AUDIO_SPECS] == ["maf"]
    assert "audio" not in SPECS_BY_NAME["maf"].budgets["default"]
    for spec in AUDIO_SPECS:
        for budget in BUDGETS:
            model = build(spec, (2000,), 256, "audio", budget, **classes_for(spec, 10))
            assert model.capabilities == spec.capabilities
            assert isinstance(model.space, MuLawSpace)


LIKELIHOODS = {
    "vae": (False, "iwae"),
    "vae-beta4": (False, "iwae"),
    "diffusion-ddpm": (False, "vlb"),
    "realnvp": (False, "dequantised"),
    "pixelcnn": (True, "exact"),
    "vq-vae": (False, "vq-point-mass-bound"),
    "flow-matching": (False, "dequantised-cnf-hutchinson-trace"),
}


@pytest.mark.parametrize("name", [spec.name for spec in AUDIO_SPECS])
def test_every_row_fits_and_its_outputs_pass_the_tasks_validation(fitted, task, name):
    model = fitted[name]
    spec = SPECS_BY_NAME[name]
    samples = task.validate_samples(plugin.sample(model, 3, 11), 3)
    assert torch.equal(samples, plugin.sample(model, 3, 11))
    assert not torch.equal(samples, plugin.sample(model, 3, 12))
    assert samples.abs().max() > 1e-3  # not silence
    codes = task.likelihood_batch("smoke")
    result = plugin.log_likelihood(model, codes)
    if "log_likelihood" in spec.capabilities:
        assert result.nats.shape == (len(codes),) and result.nats.dtype == np.float64
        assert np.isfinite(result.nats).all() and (result.nats < 0).all()
        assert (result.exact, result.method) == LIKELIHOODS[name]
    else:
        assert result is None
    waveforms = task.reconstruction_batch("smoke")
    recon = plugin.reconstruct(model, waveforms)
    if "reconstruct" in spec.capabilities:
        task.validate_samples(recon, len(waveforms))
    else:
        assert recon is None


def test_flow_reconstructs_waveforms_to_their_mu_law_values(fitted, task):
    waveforms = task.reconstruction_batch("smoke")
    recon = plugin.reconstruct(fitted["realnvp"], waveforms)
    assert_close(recon, task.decode_mulaw(task.encode_mulaw(waveforms)), atol=1e-4)


def test_wavenet_likelihood_is_exact_and_independent_of_the_batch(fitted, task):
    codes = task.likelihood_batch("smoke")
    whole = plugin.log_likelihood(fitted["pixelcnn"], codes)
    part = plugin.log_likelihood(fitted["pixelcnn"], codes[1:3])
    assert whole.exact and whole.method == "exact"
    assert np.abs(whole.nats[1:3] - part.nats).max() < 1e-5
    assert plugin.model_info(fitted["pixelcnn"])["nfe"] == 2000
