"""GAN family: the critic objectives and penalties in closed form, the
generator average, pickling, the residual networks, the configuration
checks and the ``wgan-gp`` row."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from genbench_families import gan as gan_module
from genbench_families import plugin
from genbench_families.catalogue import SPECS_BY_NAME, build
from genbench_families.gan import GAN
from genbench_families.nets import image, toy
from genbench_families.nets.residual import ResidualEncoder
from genbench_families.space import DataSpace
from test_families_support import TinyBarsTask, TinyBlobsTask, fit_model


def _gan(**options) -> GAN:
    torch.manual_seed(0)
    settings = dict(latent_dim=2, width=8, steps=0, batch_size=8, lr=1e-3)
    return GAN(DataSpace((2,), None), toy, **{**settings, **options})


class LinearCritic(torch.nn.Module):
    def __init__(self, weight: list[float]) -> None:
        super().__init__()
        self.weight = torch.tensor(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight).sum(1, keepdim=True)


def test_gradient_penalty_of_a_linear_critic_is_its_squared_norm_gap():
    gan = _gan(loss="wgan-gp")
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    generator = torch.Generator().manual_seed(0)
    gan.critic = LinearCritic([0.6, 0.8])  # unit gradient everywhere
    assert gan.gradient_penalty(real, fake, generator).item() < 1e-12
    gan.critic = LinearCritic([1.2, 1.6])  # gradient norm 2
    assert math.isclose(gan.gradient_penalty(real, fake, generator).item(), 1.0, rel_tol=1e-6)


def test_wgan_critic_loss_is_the_score_gap_plus_penalty():
    gan = _gan(loss="wgan-gp", penalty=10.0)
    gan.critic = LinearCritic([1.2, 1.6])
    real, fake = torch.ones(4, 2), torch.zeros(4, 2)
    loss = gan.critic_loss(real, fake, torch.Generator().manual_seed(0))
    assert math.isclose(loss.item(), (0.0 - 2.8) + 10.0 * 1.0, rel_tol=1e-6)


def test_hinge_loss_is_zero_only_beyond_the_margins():
    gan = _gan(loss="hinge")
    gan.critic = LinearCritic([1.0, 0.0])
    real = torch.tensor([[2.0, 0.0], [0.5, 0.0]])
    fake = torch.tensor([[-3.0, 0.0], [0.0, 0.0]])
    loss = gan.critic_loss(real, fake, torch.Generator())
    # real: relu(1 - 2) = 0, relu(1 - 0.5) = 0.5; fake: relu(1 - 3) = 0, relu(1 + 0) = 1
    assert math.isclose(loss.item(), 0.25 + 0.5, rel_tol=1e-6)


def test_training_records_one_critic_loss_per_generator_update(tmp_path):
    fitted = fit_model("gan", TinyBlobsTask(), tmp_path, steps=30)
    assert fitted.model.capabilities == {"sample"}
    history = fitted.model.fit(
        fitted.model.space.encode(TinyBlobsTask().load().train), torch.Generator()
    )
    assert len(history) == 30 and all(math.isfinite(v) for v in history)
    with pytest.raises(NotImplementedError, match="has no likelihood"):
        fitted.model.log_likelihood(torch.zeros(2, 2), torch.Generator())
    with pytest.raises(NotImplementedError, match="does not reconstruct"):
        fitted.model.reconstruct(torch.zeros(2, 2))


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="unknown GAN loss 'minimax'"):
        _gan(loss="minimax")
    with pytest.raises(ValueError, match="critic_steps must be >= 1"):
        _gan(critic_steps=0)


def test_r1_penalty_of_a_linear_critic_is_half_gamma_times_its_squared_norm():
    gan = _gan(loss="hinge", r1=2.0)
    gan.critic = LinearCritic([3.0, 4.0])  # gradient norm 5 everywhere
    real = torch.zeros(4, 2, requires_grad=True)
    assert math.isclose(gan.r1_penalty(real, gan.critic(real)).item(), 0.5 * 2.0 * 25.0)
    # hinge at zero scores: relu(1 - 0) + relu(1 + 0) = 2, plus the penalty
    loss = gan.critic_loss(torch.zeros(4, 2), torch.zeros(4, 2), torch.Generator())
    assert math.isclose(loss.item(), 2.0 + 25.0, rel_tol=1e-6)
    wgan = _gan(loss="wgan-gp", penalty=0.0, r1=2.0)
    wgan.critic = LinearCritic([3.0, 4.0])
    loss = wgan.critic_loss(torch.ones(4, 2), torch.zeros(4, 2), torch.Generator())
    assert math.isclose(loss.item(), -7.0 + 25.0, rel_tol=1e-6)


def test_betas_default_by_loss_and_can_be_set():
    assert _gan(loss="hinge").betas == (0.5, 0.999)
    assert _gan(loss="wgan-gp").betas == (0.0, 0.9)
    assert _gan(loss="hinge", betas=[0.0, 0.99]).betas == (0.0, 0.99)


def test_the_generator_average_replaces_the_generator_after_training(tmp_path):
    task = TinyBlobsTask()
    samples = {}
    for ema in (None, 0.0, 0.9):  # decay 0: the average is the last weights
        fitted = fit_model("gan", task, tmp_path / str(ema), steps=30, ema=ema).model
        samples[ema] = fitted.sample(5, torch.Generator().manual_seed(4))
    assert torch.equal(samples[0.0], samples[None])
    assert not torch.equal(samples[0.9], samples[None])


def test_a_fitted_gan_pickles_to_a_model_with_the_same_samples(tmp_path):
    fitted = fit_model("gan", TinyBlobsTask(), tmp_path, steps=20, ema=0.9).model
    state = torch.get_rng_state()
    copy = pickle.loads(pickle.dumps(fitted))
    assert torch.equal(torch.get_rng_state(), state)  # unpickling draws no random numbers
    assert not copy.training
    for seed in (0, 1):
        first = fitted.sample(6, torch.Generator().manual_seed(seed))
        assert torch.equal(copy.sample(6, torch.Generator().manual_seed(seed)), first)


def test_residual_image_networks_have_the_shallow_ones_contract():
    space = DataSpace((1, 8, 8), 17)
    torch.manual_seed(0)
    gan = GAN(space, image, latent_dim=4, width=8, steps=0, batch_size=4, lr=1e-3, blocks=2)
    assert isinstance(gan.critic, ResidualEncoder)
    x = gan.generate(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 8, 8) and x.abs().max() <= 1
    assert gan.critic(x).shape == (3, 1)
    with pytest.raises(ValueError, match="needs blocks >= 1, got 0"):
        ResidualEncoder((1, 8, 8), 1, 8, blocks=0)


def test_invalid_stabiliser_settings_are_rejected():
    with pytest.raises(ValueError, match="r1 must be >= 0, got -1"):
        _gan(r1=-1.0)
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\), got \[0.5\]"):
        _gan(betas=[0.5])
    with pytest.raises(ValueError, match="a GAN takes no early_stopping"):
        _gan(early_stopping={"check_every": 10})
    with pytest.raises(ValueError, match="decay must be 'constant' or 'cosine'"):
        _gan(schedule={"decay": "step"})


# -- the wgan-gp row ---------------------------------------------------------------------


def _wgan_row(modality: str = "toy", shape: tuple[int, ...] = (2,), levels=None) -> GAN:
    torch.manual_seed(0)
    model = build(SPECS_BY_NAME["wgan-gp"], shape, levels, modality, "smoke")
    assert isinstance(model, GAN)
    return model


def test_wgan_gp_row_is_the_papers_recipe_without_critic_normalisation():
    spec = SPECS_BY_NAME["wgan-gp"]
    assert spec.family == "gan" and spec.options["loss"] == "wgan-gp"
    for modality, shape, levels in (("toy", (2,), None), ("image", (1, 8, 8), 17)):
        model = _wgan_row(modality, shape, levels)
        assert (model.loss_name, model.penalty, model.critic_steps) == ("wgan-gp", 10.0, 5)
        assert model.betas == (0.0, 0.9)
        kinds = {type(m).__name__ for m in model.critic.modules()}
        assert not kinds & {"BatchNorm1d", "BatchNorm2d", "ParametrizationList"}, kinds
    for budget in ("smoke", "default", "full"):
        for modality in spec.modalities:
            assert spec.hyperparameters(budget, modality)["critic_steps"] == 5


def test_wgan_gp_row_penalises_a_linear_critic_by_lambda_times_its_norm_gap_squared():
    model = _wgan_row()
    critic = LinearCritic([2.0, -1.5])  # |w| = 2.5 everywhere
    model.critic = critic
    real = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    fake = torch.randn(16, 2, generator=torch.Generator().manual_seed(2))
    penalty = model.gradient_penalty(real, fake, torch.Generator().manual_seed(3))
    assert math.isclose(penalty.item(), (2.5 - 1.0) ** 2, rel_tol=1e-6)
    loss = model.critic_loss(real, fake, torch.Generator().manual_seed(3))
    gap = (critic(fake).mean() - critic(real).mean()).item()
    assert math.isclose(loss.item(), gap + 10.0 * 2.25, rel_tol=1e-6)


def test_wgan_gp_row_takes_five_critic_steps_before_each_generator_step(monkeypatch):
    updates: list[str] = []

    class CountingAdam(gan_module.Adam):
        def step(self) -> None:
            updates.append("critic" if self.params[0] is critic_first else "generator")
            super().step()

    model = _wgan_row()
    critic_first = next(model.critic.parameters())
    monkeypatch.setattr(gan_module, "Adam", CountingAdam)
    model.steps = 3
    history = model.fit(torch.randn(64, 2), torch.Generator().manual_seed(0))
    assert updates == (["critic"] * 5 + ["generator"]) * 3
    assert len(history) == 3


def test_wgan_gp_samples_have_the_tasks_shape_dtype_and_range(tmp_path):
    images = fit_model("wgan-gp", TinyBarsTask(), tmp_path / "image", steps=3)
    samples = plugin.sample(images, 7, 0)
    assert samples.shape == (7, 1, 4, 4) and samples.dtype == torch.uint8
    assert samples.max() <= 3
    points = fit_model("wgan-gp", TinyBlobsTask(), tmp_path / "toy", steps=3)
    drawn = plugin.sample(points, 7, 0)
    assert drawn.shape == (7, 2) and drawn.dtype == torch.float32
    assert torch.isfinite(drawn).all() and not torch.equal(drawn, plugin.sample(points, 7, 1))
    assert plugin.model_info(points)["train_examples"] == 3 * 5 * 128
