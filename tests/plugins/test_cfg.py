"""Class conditioning with classifier-free guidance: the guided prediction
and its evaluation counts, label dropout, the diffusion and flow-matching
samplers at w = 0, 1 and above, the rows, and the refused inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from genbench_families import plugin
from genbench_families.catalogue import SPECS_BY_NAME, build
from genbench_families.conditioning import (
    Guide,
    checked_conditioning,
    drop_labels,
    labelled_rows,
)
from genbench_families.diffusion import Diffusion
from genbench_families.flow_matching import FlowMatching
from genbench_families.nets import image
from genbench_families.plugin import FittedModel, training_labels
from genbench_families.space import DataSpace
from test_families_support import TinyBarsTask, TinyBlobsTask, perturb
from torch import Tensor, nn

from genbench import Condition
from genbench.checkpoints import Checkpoint
from genbench.tasks.audio import DigitsAudioTask
from genbench.tasks.base import TaskData
from genbench.tasks.image import MnistTask

SHAPE = (1, 8, 8)
CLASSES = 3


class Recorder(nn.Module):
    """Wraps a network and records the labels of every call."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.calls: list[Tensor] = []

    def forward(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        self.calls.append(labels.clone())
        return self.net(x, t, labels)


def _model(kind: str, **options: object) -> Diffusion | FlowMatching:
    """A small conditional model on 8x8 images (4 levels), weights (the
    label table included) perturbed so every output and label matters."""
    torch.manual_seed(0)
    space = DataSpace(SHAPE, 4)
    settings: dict = dict(width=8, steps=0, batch_size=8, lr=1e-3, num_classes=CLASSES)
    if kind.startswith("diffusion"):
        settings.update(T=100, ddpm_steps=5, ddim_steps=5, inversion_steps=5, vlb_terms=4)
        settings.update(sampler="ddpm" if kind == "diffusion-ddpm" else "ddim")
        model: Diffusion | FlowMatching = Diffusion(space, image, **{**settings, **options})
    else:
        settings.update(solver="heun", ode_steps=3)
        model = FlowMatching(space, image, **{**settings, **options})
    perturb(model, 0.2, 1)
    return model.eval()


def _draw(model: Diffusion | FlowMatching, labels: Tensor, w: float, seed: int = 5) -> Tensor:
    return model.sample_conditional(labels, w, torch.Generator().manual_seed(seed))


def _single_branch(model: Diffusion | FlowMatching, labels: Tensor, seed: int = 5) -> Tensor:
    """The sampler run on the network with ``labels`` alone (null labels
    included), whatever they are: no guidance involved."""
    generator = torch.Generator().manual_seed(seed)
    guide = Guide(labels, CLASSES, 1.0)
    if isinstance(model, Diffusion) and model.sampler == "ddpm":
        return model.sample_ddpm(len(labels), generator, model.ddpm_sequence, guide)
    x = torch.randn(len(labels), *SHAPE, generator=generator)
    if isinstance(model, Diffusion):
        return model.ddim(x, model.ddim_sequence, 0.0, generator, guide)
    return model.integrate(x, model.solver, model.ode_steps, guide)


LABELS = torch.tensor([0, 1, 2, 1, 0, 2])


@pytest.mark.parametrize("kind", ["diffusion", "diffusion-ddpm", "flow-matching"])
def test_guidance_zero_is_the_null_label_model(kind: str) -> None:
    model = _model(kind)
    unguided = _draw(model, LABELS, 0.0)
    assert torch.equal(unguided, _single_branch(model, torch.full_like(LABELS, CLASSES)))
    assert torch.equal(unguided, _draw(model, LABELS.flip(0), 0.0))  # labels unused


@pytest.mark.parametrize("kind", ["diffusion", "diffusion-ddpm", "flow-matching"])
def test_guidance_one_is_the_conditional_model(kind: str) -> None:
    model = _model(kind)
    conditional = _draw(model, LABELS, 1.0)
    assert torch.equal(conditional, _single_branch(model, LABELS))
    assert not torch.equal(conditional, _draw(model, LABELS, 0.0))


@pytest.mark.parametrize("kind", ["diffusion", "flow-matching"])
def test_guidance_four_moves_samples_beyond_the_conditional_ones(kind: str) -> None:
    model = _model(kind)
    unguided, conditional = _draw(model, LABELS, 0.0), _draw(model, LABELS, 1.0)
    guided = _draw(model, LABELS, 4.0)
    assert (guided - conditional).abs().mean() > 0.5 * (conditional - unguided).abs().mean()
    assert torch.equal(guided, _draw(model, LABELS, 4.0))  # seeded


@pytest.mark.parametrize("kind", ["diffusion", "flow-matching"])
@pytest.mark.parametrize("w,calls,batch", [(0.0, 1, 6), (1.0, 1, 6), (2.0, 1, 12)])
def test_network_evaluations_per_step(kind: str, w: float, calls: int, batch: int) -> None:
    model = _model(kind)
    recorder = Recorder(model.net)
    model.net = recorder
    _draw(model, LABELS, w)
    base = 5 if kind == "diffusion" else 3 * 2  # DDIM steps; Heun steps x 2
    assert len(recorder.calls) == base * calls
    assert {len(labels) for labels in recorder.calls} == {batch}
    assert model.nfe(w) == base * (2 if batch == 12 else 1)
    assert model.nfe() == base  # the row's guidance, 1


def test_guided_prediction_combines_the_two_branches() -> None:
    torch.manual_seed(0)
    net = image.denoiser(SHAPE, 8, num_classes=CLASSES)
    perturb(net, 0.2, 2)
    x, t = torch.randn(6, *SHAPE), torch.rand(6)
    with torch.no_grad():
        c, u = net(x, t, LABELS), net(x, t, torch.full_like(LABELS, CLASSES))
        guided = Guide(LABELS, CLASSES, 2.5).predict(net, x, t)
        assert torch.equal(Guide(LABELS, CLASSES, 0.0).predict(net, x, t), u)
        assert torch.equal(Guide(LABELS, CLASSES, 1.0).predict(net, x, t), c)
    assert (guided - (u + 2.5 * (c - u))).abs().max() < 1e-5


def test_label_dropout_rate_within_binomial_tolerance() -> None:
    n, p = 40_000, 0.1
    labels = torch.arange(n) % 10
    dropped = drop_labels(labels, p, 10, torch.Generator().manual_seed(3))
    nulls = int((dropped == 10).sum())
    assert abs(nulls - n * p) < 4 * math.sqrt(n * p * (1 - p))
    kept = dropped != 10
    assert torch.equal(dropped[kept], labels[kept])
    again = drop_labels(labels, p, 10, torch.Generator().manual_seed(3))
    assert torch.equal(dropped, again)  # drawn from the generator


@pytest.mark.parametrize("kind", ["diffusion", "flow-matching"])
def test_training_loss_drops_labels_at_the_rate(kind: str) -> None:
    model = _model(kind, label_dropout=0.3)
    recorder = Recorder(model.net)
    model.net = recorder
    labels = torch.arange(2000) % CLASSES
    model.loss(torch.zeros(2000, *SHAPE), torch.Generator().manual_seed(4), labels)
    (seen,) = recorder.calls
    nulls = int((seen == CLASSES).sum())
    assert abs(nulls - 600) < 4 * math.sqrt(2000 * 0.3 * 0.7)
    assert torch.equal(seen[seen != CLASSES], labels[seen != CLASSES])


def test_labelled_rows_keep_examples_and_labels_aligned() -> None:
    data = torch.arange(10, dtype=torch.float32).view(10, 1) * 10
    labels = torch.arange(10)
    rows, loss = labelled_rows(data, labels, lambda x, y: (x.squeeze(1) - 10 * y).abs().sum())
    assert torch.equal(rows, torch.arange(10))
    assert float(loss(torch.tensor([7, 2, 5]))) == 0.0


@pytest.mark.parametrize("kind", ["diffusion", "flow-matching"])
def test_fit_trains_on_labels_and_needs_them(kind: str) -> None:
    model = _model(kind, steps=3)
    data = torch.rand(16, *SHAPE) * 2 - 1
    labels = torch.arange(16) % CLASSES
    history = model.fit(data, torch.Generator().manual_seed(0), labels)
    assert len(history) == 3
    with pytest.raises(ValueError, match="needs training labels"):
        model.fit(data, torch.Generator())
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[0, 3\]"):
        model.fit(data, torch.Generator(), torch.arange(16) % 4)
    plain = _model(kind, num_classes=None)
    with pytest.raises(ValueError, match="trains without labels"):
        plain.fit(data, torch.Generator(), labels)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"num_classes": None, "label_dropout": 0.1}, "need a class-conditional model"),
        ({"num_classes": 0}, "num_classes must be >= 1, got 0"),
        ({"label_dropout": 1.0}, r"label_dropout must lie in \[0, 1\), got 1.0"),
        ({"guidance": -1.0}, "guidance must be a finite number >= 0, got -1.0"),
        ({"guidance": math.inf}, "guidance must be a finite number >= 0, got inf"),
    ],
)
def test_refused_conditioning_settings(settings: dict, message: str) -> None:
    arguments = {"num_classes": 10, "label_dropout": 0.0, "guidance": 1.0, **settings}
    with pytest.raises(ValueError, match=message):
        checked_conditioning(**arguments)


def test_a_negative_guidance_is_refused_by_the_sampler() -> None:
    with pytest.raises(ValueError, match=r"guidance must be a finite number >= 0, got -0\.5"):
        _draw(_model("flow-matching"), LABELS, -0.5)


def test_sampling_needs_a_conditional_model() -> None:
    plain = _model("flow-matching", num_classes=None)
    with pytest.raises(ValueError, match="not class-conditional"):
        plain.sample_conditional(LABELS, 1.0, torch.Generator())


# -- the rows and the hooks ---------------------------------------------------


@pytest.mark.parametrize(
    "row,twin", [("diffusion-cfg", "diffusion-ddim"), ("flow-matching-cfg", "flow-matching")]
)
def test_rows_match_their_unconditional_twins(row: str, twin: str) -> None:
    spec, other = SPECS_BY_NAME[row], SPECS_BY_NAME[twin]
    assert spec.family == other.family and spec.trains_as == ""
    assert spec.modalities == ("image", "audio")
    assert spec.capabilities == {"sample", "conditional_sample"}
    assert spec.options["label_dropout"] == 0.1 and spec.options["guidance"] == 1.0
    for budget in ("smoke", "default", "full"):
        for modality in spec.modalities:
            assert spec.hyperparameters(budget, modality) == other.hyperparameters(budget, modality)
    model = build(spec, SHAPE, 4, "image", "smoke", num_classes=10)
    assert model.capabilities == {"sample", "conditional_sample"}
    assert model.nfe() == build(other, SHAPE, 4, "image", "smoke").nfe()


def test_build_needs_classes_exactly_for_conditional_rows() -> None:
    with pytest.raises(ValueError, match="'flow-matching-cfg' needs num_classes, got None"):
        build(SPECS_BY_NAME["flow-matching-cfg"], SHAPE, 4, "image", "smoke")
    with pytest.raises(ValueError, match="'flow-matching' takes no num_classes, got 10"):
        build(SPECS_BY_NAME["flow-matching"], SHAPE, 4, "image", "smoke", num_classes=10)


def test_training_labels_come_from_the_task() -> None:
    task = MnistTask()
    labels = training_labels(SPECS_BY_NAME["diffusion-cfg"], task)
    assert labels is not None and labels.dtype == torch.int64
    assert torch.equal(labels, torch.as_tensor(task.load().train_labels, dtype=torch.int64))
    assert len(labels) == len(task.load().train)
    assert training_labels(SPECS_BY_NAME["diffusion-ddim"], task) is None


def test_a_task_without_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="trains on class labels; task 'toy/tiny-blobs' has none"):
        training_labels(SPECS_BY_NAME["diffusion-cfg"], TinyBlobsTask())


class MislabelledTask(TinyBarsTask):
    def _load(self) -> TaskData:
        data = super()._load()
        return TaskData(train=data.train, test=data.test, train_labels=np.zeros(5, np.int64))


def test_labels_not_one_per_example_are_refused() -> None:
    with pytest.raises(ValueError, match=r"has \(5,\) training labels for 256 training"):
        training_labels(SPECS_BY_NAME["diffusion-cfg"], MislabelledTask())


def _fitted(row: str, task: object, directory: Path) -> FittedModel:
    key = {"model": row, "task": task.name, "seed": 0}  # type: ignore[attr-defined]
    model = plugin.fit(
        spec=SPECS_BY_NAME[row],
        task=task,  # type: ignore[arg-type]
        budget="smoke",
        seed=0,
        checkpoint=Checkpoint(directory, key),
    )
    assert isinstance(model, FittedModel)
    return model


@pytest.mark.parametrize("row", ["diffusion-cfg", "flow-matching-cfg"])
@pytest.mark.parametrize("task_class", [MnistTask, DigitsAudioTask])
def test_smoke_fit_and_conditional_sample(row: str, task_class: type, tmp_path: Path) -> None:
    task = task_class()
    model = _fitted(row, task, tmp_path)
    assert model.model.num_classes == 10
    labels = torch.arange(6, dtype=torch.int64) % 10
    drawn = plugin.sample(model, 6, 1, Condition(labels, 2.0))
    real = torch.as_tensor(np.asarray(task.load().train[:1]))
    assert drawn.shape == (6, *task.example_shape) and drawn.dtype == real.dtype
    assert torch.equal(drawn, plugin.sample(model, 6, 1, Condition(labels, 2.0)))
    plain = plugin.sample(model, 6, 1)
    assert plain.shape == drawn.shape and plain.dtype == real.dtype
    # a refit loads its own checkpoint and samples the same
    again = _fitted(row, task, tmp_path)
    assert torch.equal(plugin.sample(again, 6, 1, Condition(labels, 2.0)), drawn)


@pytest.fixture(scope="module")
def conditional() -> FittedModel:
    return FittedModel(name="flow-matching-cfg", model=_model("flow-matching"), seed=0)


@pytest.mark.parametrize(
    "labels,message",
    [
        (torch.tensor([0, 1, 2], dtype=torch.int32), "dtype torch.int64, got torch.int32"),
        (torch.tensor([0, 1]), r"shape \(3,\), got \(2,\)"),
        (torch.tensor([[0, 1, 2]]), r"shape \(3,\), got \(1, 3\)"),
        (torch.tensor([0, 1, 3]), r"lie in \[0, 3\), got values in \[0, 3\]"),
        (torch.tensor([-1, 1, 2]), r"lie in \[0, 3\), got values in \[-1, 2\]"),
        (np.array([0, 1, 2]), "must be a torch.Tensor, got ndarray"),
    ],
)
def test_bad_labels_are_refused(conditional: FittedModel, labels: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plugin.sample(conditional, 3, 0, Condition(labels, 1.0))


def test_a_condition_for_an_unconditional_model_is_refused() -> None:
    model = FittedModel(
        name="flow-matching", model=_model("flow-matching", num_classes=None), seed=0
    )
    with pytest.raises(ValueError, match="'flow-matching' is not class-conditional"):
        plugin.sample(model, 3, 0, Condition(torch.tensor([0, 1, 2]), 1.0))
