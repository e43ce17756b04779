"""Latent diffusion: the stage-1 autoencoders (shapes, dtype, compression),
the latent denoisers, the spectral loss, the latent scale, bad settings,
determinism, and the sample/reconstruct hooks at the smoke budget on
``image/mnist`` and 1 s clips of the spoken-digit synthesiser (the DDIM row
loading the DDPM row's checkpoint); the class-conditional row (guidance,
its network evaluations, the autoencoder it shares with its unconditional
twin from one seed, sampling by label through the hook)."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_families import plugin
from genbench_families.catalogue import SPECS_BY_NAME, build
from genbench_families.latent_diffusion import LatentDiffusion, spectral_distance
from genbench_families.nets import image, latent
from genbench_families.space import DataSpace, MuLawSpace
from test_families_support import fit_model, perturb

from genbench import Condition
from genbench.tasks.audio import DigitsAudioTask
from genbench.tasks.audio_synth import DigitSynthesisConfig
from genbench.tasks.image import MnistTask

CLIPS = DigitSynthesisConfig(clips_per_digit=4, num_samples=8000, seed=5)
"""40 synthesised 1 s clips at 8 kHz (20 train, 10 test)."""

PRIOR = {
    "width": 8,
    "steps": 3,
    "batch_size": 4,
    "lr": 1e-3,
    "T": 100,
    "ddpm_steps": 5,
    "ddim_steps": 4,
    "inversion_steps": 4,
    "vlb_terms": 2,
}


def _model(space: DataSpace, seed: int = 0, **options) -> LatentDiffusion:
    torch.manual_seed(seed)
    settings = dict(
        latent_channels=4, width=8, stages=2, steps=3, batch_size=4, lr=1e-3, prior=PRIOR
    )
    return LatentDiffusion(space, image, **{**settings, **options})


@pytest.fixture(scope="module")
def audio_task(tmp_path_factory) -> DigitsAudioTask:
    return DigitsAudioTask(CLIPS, cache_dir=tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="module")
def fitted(audio_task, tmp_path_factory):
    """Both rows on both tasks at the smoke budget, one checkpoint folder."""
    directory = tmp_path_factory.mktemp("checkpoints")
    tasks = {"image": MnistTask(), "audio": audio_task}
    return {
        (name, modality): fit_model(name, task, directory, seed=1)
        for modality, task in tasks.items()
        for name in ("latent-diffusion-ddpm", "latent-diffusion-ddim")
    }


# -- stage 1 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "latent_shape", "factor"),
    [((1, 28, 28), (4, 7, 7), 4.0), ((1, 8000), (4, 250), 8.0), ((1, 2000), (4, 125), 4.0)],
)
def test_autoencoder_round_trip_keeps_shape_and_dtype(shape, latent_shape, factor):
    torch.manual_seed(0)
    encoder, decoder, got = latent.autoencoder(shape, 4, 8, 2, 8)
    assert got == latent_shape
    x = torch.rand(3, *shape) * 2 - 1
    moments = encoder(x)
    assert moments.shape == (3, 8, *latent_shape[1:]) and moments.dtype == torch.float32
    out = decoder(moments[:, :4])
    assert out.shape == x.shape and out.dtype == torch.float32
    assert math.prod(shape) / math.prod(latent_shape) == factor


def test_plans_halve_only_even_sides_and_fold_whole_frames():
    assert latent.image_stages(28, 28, 2) == 2
    assert latent.image_stages(28, 28, 3) == 2  # 7 is odd
    assert latent.image_stages(4, 4, 2) == 1  # 2 x 2 is too small to halve
    assert latent.image_stages(2, 2, 2) == 0
    assert latent.sequence_plan(8000, 8, 2) == (8, 2)  # 1000 → 500 → 250 frames
    assert latent.sequence_plan(8, 8, 2) == (2, 0)  # 4 frames, too few to halve
    assert latent.sequence_plan(2000, 8, 3) == (8, 1)  # 250 → 125, odd


def test_model_reports_compression_scale_and_reconstruction_error():
    model = _model(DataSpace((1, 28, 28), 256))
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    info = model.diagnostics(x)
    assert info["compression_factor"] == 4.0 and info["latent_dims"] == 196.0
    assert info["latent_scale"] == 1.0  # before fitting
    expected = (model.reconstruct(x) - x).abs().mean()
    assert math.isclose(info["reconstruction_l1"], float(expected), rel_tol=1e-6)
    assert model.nfe() == PRIOR["ddpm_steps"] + 1
    assert _model(DataSpace((1, 28, 28), 256), sampler="ddim").nfe() == PRIOR["ddim_steps"] + 1


def test_fit_scales_the_training_latents_to_unit_variance():
    model = _model(MuLawSpace(2000, 256), steps=5)
    data = torch.rand(12, 1, 2000) * 2 - 1
    losses = model.fit(data, torch.Generator().manual_seed(0))
    assert len(losses) == 5 + PRIOR["steps"]
    scaled = model.latents(data).double()
    assert math.isclose(float(scaled.std()), 1.0, rel_tol=1e-4)
    means = model.posterior(data)[0].detach().double()
    assert math.isclose(float(model.latent_scale), 1 / float(means.std()), rel_tol=1e-4)


def test_reconstruction_and_samples_stay_in_model_space():
    model = _model(DataSpace((1, 8, 8), 17)).eval()
    with torch.no_grad():
        model.decoder[-1].bias.fill_(5.0)  # decoder output far above 1
    x = torch.zeros(2, 1, 8, 8)
    assert torch.equal(model.reconstruct(x), torch.ones(2, 1, 8, 8))
    assert model.sample(3, torch.Generator().manual_seed(0)).abs().max() <= 1.0


# -- the spectral loss and the latent denoisers ----------------------------------------


def test_spectral_distance_is_zero_for_equal_signals_and_log2_for_a_doubled_one():
    x = torch.randn(2, 1, 4096, generator=torch.Generator().manual_seed(0))
    assert float(spectral_distance(x, x)) == 0.0
    # doubling every magnitude adds log 2 to each log magnitude (up to the 1e-3 floor)
    assert math.isclose(float(spectral_distance(2 * x, x)), math.log(2), rel_tol=1e-3)
    # on 100 samples only the 64-sample window fits
    short = x[..., :100]
    assert math.isclose(
        float(spectral_distance(2 * short, short)),
        float(spectral_distance(2 * short, short, (64,))),
    )


def test_sequence_denoiser_starts_at_zero_and_keeps_the_latent_shape():
    net = latent.denoiser((4, 250), 8)
    assert isinstance(net, latent.SequenceDenoiser)
    z = torch.randn(3, 4, 250)
    out = net(z, torch.rand(3))
    assert out.shape == z.shape and torch.equal(out, torch.zeros_like(z))
    odd = latent.denoiser((4, 125), 8)  # an odd length is not folded
    assert odd(torch.randn(2, 4, 125), torch.rand(2)).shape == (2, 4, 125)
    assert latent.denoiser((4, 7, 7), 8)(torch.randn(2, 4, 7, 7), torch.rand(2)).shape == (
        2,
        4,
        7,
        7,
    )


# -- bad settings -----------------------------------------------------------------------


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match=r"images \(C, H, W\) or sequences \(C, T\).*\(2,\)"):
        latent.autoencoder((2,), 4, 8, 2, 8)
    with pytest.raises(ValueError, match=r"latent_channels, width and fold >= 1.*got 0, 8, 8"):
        latent.autoencoder((1, 28, 28), 0, 8, 2, 8)
    with pytest.raises(ValueError, match=r"latent denoisers need latents .* got shape \(5,\)"):
        latent.denoiser((5,), 8)
    with pytest.raises(ValueError, match="kl_weight must be >= 0, got -1"):
        _model(DataSpace((1, 8, 8), 17), kl_weight=-1.0)
    with pytest.raises(ValueError, match=r"spectral_weight must be >= 0, got -0\.5"):
        _model(MuLawSpace(2000, 256), spectral_weight=-0.5)
    with pytest.raises(ValueError, match=r"spectral loss needs sequences \(C, T\)"):
        _model(DataSpace((1, 8, 8), 17), spectral_weight=0.1)
    with pytest.raises(ValueError, match="the row's `sampler` option, not a prior key"):
        _model(DataSpace((1, 8, 8), 17), prior={**PRIOR, "sampler": "ddim"})
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        _model(DataSpace((1, 8, 8), 17), sampler="euler")
    with pytest.raises(ValueError, match="need two B x C x T tensors of one shape"):
        spectral_distance(torch.zeros(1, 1, 100), torch.zeros(1, 1, 90))
    with pytest.raises(ValueError, match=r"no STFT window in .* fits sequences of 32 samples"):
        spectral_distance(torch.zeros(1, 1, 32), torch.zeros(1, 1, 32))


def test_rows_leave_toy_tasks_out_and_share_one_training_configuration():
    ddpm, ddim = SPECS_BY_NAME["latent-diffusion-ddpm"], SPECS_BY_NAME["latent-diffusion-ddim"]
    assert ddim.trains_as == "latent-diffusion-ddpm" and not ddpm.trains_as
    assert ddim.budgets == ddpm.budgets
    assert (ddpm.options["sampler"], ddim.options["sampler"]) == ("ddpm", "ddim")
    assert ddpm.family == ddim.family == "diffusion"
    assert set(ddpm.modalities) == set(ddim.modalities) == {"image", "audio"}
    model = build(ddpm, (1, 28, 28), 256, "image", "default")
    assert model.latent_shape == (4, 7, 7)
    assert build(ddpm, (8000,), 256, "audio", "default").latent_shape == (4, 250)


@pytest.mark.parametrize("row", ["latent-diffusion-ddpm", "latent-diffusion-ddim", "vq-vae"])
def test_a_ladder_rung_trains_both_stages_longer(row: str):
    spec = SPECS_BY_NAME[row]
    for modality in ("image", "audio"):
        default = spec.hyperparameters("default", modality)
        rung = spec.hyperparameters("default-x4", modality)
        assert rung["steps"] == 4 * default["steps"]
        assert rung["prior"]["steps"] == 4 * default["prior"]["steps"]
        assert {**rung, "steps": default["steps"], "prior": default["prior"]} == default
        assert {**rung["prior"], "steps": default["prior"]["steps"]} == default["prior"]


# -- the hooks at the smoke budget ----------------------------------------------------------


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_ddim_row_loads_the_ddpm_rows_checkpoint(fitted, modality):
    ddpm = fitted[("latent-diffusion-ddpm", modality)].model.state_dict()
    ddim = fitted[("latent-diffusion-ddim", modality)].model.state_dict()
    assert ddpm.keys() == ddim.keys()
    assert all(torch.equal(ddpm[key], ddim[key]) for key in ddpm)


def test_image_hooks_give_uint8_images_and_reproducible_samples(fitted):
    x = MnistTask().load().test[:6]
    for name in ("latent-diffusion-ddpm", "latent-diffusion-ddim"):
        model = fitted[(name, "image")]
        samples = plugin.sample(model, 5, 3)
        assert samples.shape == (5, 1, 28, 28) and samples.dtype == torch.uint8
        assert torch.equal(samples, plugin.sample(model, 5, 3))
        assert not torch.equal(samples, plugin.sample(model, 5, 4))
        recon = plugin.reconstruct(model, x)
        assert recon.shape == x.shape and recon.dtype == x.dtype
        assert plugin.log_likelihood(model, x) is None
        info = plugin.model_info(model)
        assert info["compression_factor"] == 4.0 and info["latent_scale"] > 0
    ddpm, ddim = (
        plugin.model_info(fitted[(n, "image")])
        for n in ("latent-diffusion-ddpm", "latent-diffusion-ddim")
    )
    smoke = SPECS_BY_NAME["latent-diffusion-ddpm"].hyperparameters("smoke", "image")
    assert ddpm["nfe"] == smoke["prior"]["ddpm_steps"] + 1
    assert ddim["nfe"] == smoke["prior"]["ddim_steps"] + 1


def test_audio_hooks_give_waveforms_in_range_that_the_task_accepts(fitted, audio_task):
    waveforms = audio_task.load().test[:4]
    for name in ("latent-diffusion-ddpm", "latent-diffusion-ddim"):
        model = fitted[(name, "audio")]
        samples = audio_task.validate_samples(plugin.sample(model, 3, 7), 3)
        assert samples.shape == (3, 8000) and samples.dtype == torch.float32
        assert samples.abs().max() <= 1.0 and samples.abs().max() > 1e-3
        assert torch.equal(samples, plugin.sample(model, 3, 7))
        recon = plugin.reconstruct(model, waveforms)
        assert recon.shape == waveforms.shape and recon.dtype == torch.float32
        assert recon.abs().max() <= 1.0
        assert plugin.model_info(model)["compression_factor"] == 8.0


def test_same_seed_trains_the_same_model(tmp_path, audio_task):
    a = fit_model("latent-diffusion-ddpm", audio_task, tmp_path / "a", seed=4, steps=2)
    b = fit_model("latent-diffusion-ddpm", audio_task, tmp_path / "b", seed=4, steps=2)
    c = fit_model("latent-diffusion-ddpm", audio_task, tmp_path / "c", seed=5, steps=2)
    first, second, other = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
    assert torch.equal(plugin.sample(a, 2, 0), plugin.sample(b, 2, 0))


# -- class-conditional latent diffusion ------------------------------------------------

CONDITIONING = {"num_classes": 3, "label_dropout": 0.1, "guidance": 1.0}
LABELS = torch.tensor([0, 1, 2, 1, 0, 2])


def _conditional(shape: tuple[int, ...] = (1, 28, 28)) -> LatentDiffusion:
    """A conditional model whose latent denoiser (label table included) is
    perturbed, so every label and the guidance scale change its latents.
    Width 16: at width 8 every GroupNorm group is one channel, which
    cancels the per-channel time and label biases of the image U-Net."""
    model = _model(
        DataSpace(shape, 256), sampler="ddim", prior={**PRIOR, "width": 16}, **CONDITIONING
    )
    perturb(model.diffusion.net, 0.05, 1)
    return model.eval()


def _draw(model: LatentDiffusion, labels: torch.Tensor, w: float) -> torch.Tensor:
    return model.sample_conditional(labels, w, torch.Generator().manual_seed(5))


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 2000)])
def test_conditional_samples_decode_the_guided_latents(shape):
    model = _conditional(shape)
    latents = model.diffusion.sample_conditional(LABELS, 2.0, torch.Generator().manual_seed(5))
    expected = model.decode(latents / model.latent_scale)
    assert torch.equal(_draw(model, LABELS, 2.0), expected)
    assert model.capabilities == {"sample", "conditional_sample", "reconstruct"}
    assert model.num_classes == 3


def test_guidance_zero_ignores_the_labels_and_one_follows_them():
    model = _conditional()
    assert torch.equal(_draw(model, LABELS, 0.0), _draw(model, LABELS.flip(0), 0.0))

    def latents(labels: torch.Tensor, w: float) -> torch.Tensor:
        return model.diffusion.sample_conditional(labels, w, torch.Generator().manual_seed(5))

    assert (latents(LABELS, 1.0) - latents(LABELS, 0.0)).abs().mean() > 1e-3
    assert (latents(LABELS, 1.0) - latents(LABELS.flip(0), 1.0)).abs().mean() > 1e-3
    assert torch.equal(_draw(model, LABELS, 1.0), _draw(model, LABELS, 1.0))


def test_conditional_nfe_counts_both_branches_and_the_decoder():
    model = _conditional()
    steps = len(model.diffusion.ddim_sequence)
    assert model.nfe() == model.nfe(0.0) == steps + 1
    assert model.nfe(2.0) == 2 * steps + 1
    unconditional = _model(DataSpace((1, 28, 28), 256), sampler="ddim")
    assert unconditional.nfe() == steps + 1
    assert unconditional.capabilities == {"sample", "reconstruct"}


def test_an_unconditional_model_refuses_conditioning():
    with pytest.raises(ValueError, match="label_dropout and guidance need a class-conditional"):
        _model(DataSpace((1, 28, 28), 256), label_dropout=0.1)
    with pytest.raises(ValueError, match="not class-conditional"):
        _model(DataSpace((1, 28, 28), 256)).sample_conditional(
            LABELS, 1.0, torch.Generator().manual_seed(0)
        )


def test_cfg_row_is_the_ddim_row_with_conditioning():
    cfg, ddim = SPECS_BY_NAME["latent-diffusion-cfg"], SPECS_BY_NAME["latent-diffusion-ddim"]
    assert cfg.budgets == ddim.budgets and cfg.ladder_keys == ddim.ladder_keys
    assert cfg.family == "diffusion" and not cfg.trains_as and not cfg.default_grid
    assert cfg.modalities == ("image", "audio")
    assert cfg.capabilities == {"sample", "conditional_sample", "reconstruct"}
    assert cfg.options == {**ddim.options, "label_dropout": 0.1, "guidance": 1.0}


@pytest.fixture(scope="module")
def conditional_fitted(audio_task, tmp_path_factory):
    directory = tmp_path_factory.mktemp("conditional")
    tasks = {"image": MnistTask(), "audio": audio_task}
    return {
        modality: fit_model("latent-diffusion-cfg", task, directory, seed=1)
        for modality, task in tasks.items()
    }


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_labels_reach_only_the_latent_model(fitted, conditional_fitted, modality):
    """Fitted from one seed, the conditional row's autoencoder is its
    unconditional twin's bit for bit: labels reach only the latent
    denoiser. (In a grid each row derives its fit seed from its own name,
    so the committed rows' autoencoders are two draws of one recipe.)"""
    twin = fitted[("latent-diffusion-ddpm", modality)].model
    cfg = conditional_fitted[modality].model
    for part in ("encoder", "decoder"):
        ours, theirs = getattr(cfg, part).state_dict(), getattr(twin, part).state_dict()
        assert all(torch.equal(ours[key], theirs[key]) for key in theirs), part
    assert torch.equal(cfg.latent_scale, twin.latent_scale)
    extra = set(cfg.state_dict()) - set(twin.state_dict())
    assert extra == {"diffusion.net.labels.weight"}
    assert cfg.diffusion.net.labels.weight.abs().sum() > 0  # the label table trained


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_cfg_row_samples_by_label_through_the_hook(conditional_fitted, audio_task, modality):
    model = conditional_fitted[modality]
    labels = torch.arange(4, dtype=torch.int64)
    drawn = plugin.sample(model, 4, 2, Condition(labels, 2.0))
    task = MnistTask() if modality == "image" else audio_task
    assert drawn.shape == (4, *task.example_shape)
    assert drawn.dtype == (torch.uint8 if modality == "image" else torch.float32)
    assert torch.equal(drawn, plugin.sample(model, 4, 2, Condition(labels, 2.0)))
    assert not torch.equal(drawn, plugin.sample(model, 4, 2, Condition(labels, 0.0)))
    assert plugin.sample(model, 4, 2).shape == drawn.shape
    x = task.load().test[:3]
    assert plugin.reconstruct(model, x).shape == x.shape
    assert plugin.model_info(model)["nfe"] == model.model.nfe(1.0)
