"""The shifted sets of the likelihood anomaly AUROC: the likelihood batch's
format and count, what each shift does, determinism, budget independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.features.waveform import mulaw_encode
from genbench.metrics.info import METRICS
from genbench.tasks.audio import DigitsAudioTask
from genbench.tasks.audio_synth import DigitSynthesisConfig
from genbench.tasks.image import DigitsTask, MnistTask, shrink_to_centre
from genbench.tasks.text import PydocTask
from genbench.tasks.toy import Grid25Task, Ring8Task

SMALL_AUDIO = DigitSynthesisConfig(clips_per_digit=4, seed=11)


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> DigitsAudioTask:
    return DigitsAudioTask(SMALL_AUDIO, cache_dir=tmp_path_factory.mktemp("cache"))


def _tasks(audio: DigitsAudioTask) -> list:
    return [MnistTask(), DigitsTask(), Ring8Task(), Grid25Task(), PydocTask(), audio]


def _same_format(task, shifted, reference) -> None:
    assert len(shifted) == len(reference)
    if isinstance(reference, torch.Tensor):
        assert shifted.shape == reference.shape and shifted.dtype == reference.dtype
        if task.levels is not None:
            assert int(shifted.min()) >= 0 and int(shifted.max()) < task.levels
    else:  # text: token ids, one tensor per document, same lengths
        for doc, ref in zip(shifted, reference, strict=True):
            assert doc.dtype == ref.dtype and len(doc) == len(ref)
            assert int(doc.min()) >= 0 and int(doc.max()) < task.vocabulary.size


def test_every_builtin_task_declares_registered_shifts_in_the_likelihood_format(audio):
    for task in _tasks(audio):
        reference = task.likelihood_batch("smoke")
        shifts = task.shifted_likelihood_batches("smoke")
        assert 1 <= len(shifts) <= 2, task.name
        for name, shifted in shifts.items():
            metric = METRICS[f"anomaly_auroc_{name}"]
            assert task.modality in metric.modalities
            _same_format(task, shifted, reference)


def test_shifts_are_deterministic_and_independent_of_the_budget(audio):
    for task in _tasks(audio):
        small = task.shifted_likelihood_batches("smoke")
        again = task.shifted_likelihood_batches("smoke")
        large = task.shifted_likelihood_batches("default")
        for name, shifted in small.items():
            for i, example in enumerate(shifted):
                assert torch.equal(example, again[name][i]), (task.name, name)
                assert torch.equal(example, large[name][i]), (task.name, name)


def test_image_shifts_invert_and_shrink_the_test_images():
    task = MnistTask()
    x = task.likelihood_batch("smoke").to(torch.int64)
    shifts = task.shifted_likelihood_batches("smoke")
    assert torch.equal(shifts["inverted"].to(torch.int64), 255 - x)
    shrunk = shifts["shrunk"].to(torch.int64)
    # pixel (i, j) of the half-size image, at (7 + i, 7 + j): the mean of its 2 x 2 block
    block = x[:, :, 2 * 3 : 2 * 3 + 2, 2 * 5 : 2 * 5 + 2].double().mean(dim=(2, 3))
    assert torch.equal(shrunk[:, :, 7 + 3, 7 + 5], block.round().to(torch.int64))
    border = torch.ones(28, 28, dtype=torch.bool)
    border[7:21, 7:21] = False
    assert int(shrunk[:, :, border].abs().sum()) == 0


def test_shrinking_an_odd_image_drops_its_last_row_and_column():
    image = torch.arange(25, dtype=torch.uint8).reshape(1, 1, 5, 5)
    shrunk = shrink_to_centre(image)
    # blocks (0,1,5,6) -> 3, (2,3,7,8) -> 5, (10,11,15,16) -> 13, (12,13,17,18) -> 15
    expected = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    expected[0, 0, 1:3, 1:3] = torch.tensor([[3, 5], [13, 15]], dtype=torch.uint8)
    assert torch.equal(shrunk, expected)


def test_toy_uniform_points_fill_the_test_bounding_box():
    task = Ring8Task()
    test = task.load().test
    points = task.shifted_likelihood_batches("default")["uniform"]
    assert (points.min(dim=0).values >= test.min(dim=0).values).all()
    assert (points.max(dim=0).values <= test.max(dim=0).values).all()
    # Uniform on the box: a quarter of the points in each quadrant, within 4 sd.
    quadrant = ((points[:, 0] > 0).long() * 2 + (points[:, 1] > 0).long()).numpy()
    counts = np.bincount(quadrant, minlength=4)
    assert np.all(np.abs(counts - 500) < 4 * np.sqrt(2000 * 0.25 * 0.75))


def test_text_shuffle_keeps_each_documents_characters():
    task = PydocTask()
    for doc, shuffled in zip(
        task.likelihood_batch("smoke"),
        task.shifted_likelihood_batches("smoke")["shuffled"],
        strict=True,
    ):
        assert torch.equal(torch.sort(doc).values, torch.sort(shuffled).values)
        assert not torch.equal(doc, shuffled)
        assert task.vocabulary.unit_counts(doc)[:2] == task.vocabulary.unit_counts(shuffled)[:2]


def test_audio_shifts_reverse_the_clips_and_match_their_loudness(audio):
    clips = audio.load().test[: audio.likelihood_examples["smoke"]]
    shifts = audio.shifted_likelihood_batches("smoke")
    assert torch.equal(shifts["reversed"], mulaw_encode(clips.flip(1), audio.levels))
    noise = audio.decode_mulaw(shifts["white_noise"])
    rms = clips.pow(2).mean(dim=1).sqrt()
    assert torch.allclose(noise.pow(2).mean(dim=1).sqrt(), rms, rtol=0.1)
    assert not torch.equal(shifts["white_noise"], audio.likelihood_batch("smoke"))
