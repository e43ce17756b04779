"""The ``audio/digits`` task: splits, formats at the hook boundary, mu-law
likelihood batches, features and the preview (on a 40-clip set)."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import torch

from genbench.tasks.audio import DigitsAudioTask, class_balanced_order
from genbench.tasks.audio_synth import DigitSynthesisConfig
from genbench.tasks.validation import SampleValidationError

SMALL = DigitSynthesisConfig(clips_per_digit=4, seed=11)


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> DigitsAudioTask:
    return DigitsAudioTask(SMALL, cache_dir=tmp_path_factory.mktemp("cache"))


def test_task_declaration(task):
    assert task.name == "audio/digits" and task.modality == "audio"
    assert task.levels == 256
    assert task.sample_rate == 8000 and task.example_shape == (8000,)
    assert DigitsAudioTask().config == DigitSynthesisConfig()
    assert DigitsAudioTask().config.num_clips == 5000  # 3,000 / 1,000 / 1,000


def test_splits_are_stratified_disjoint_and_balanced(task):
    data = task.load()
    assert data.train.shape == (20, 8000) and data.test.shape == (10, 8000)
    assert data.holdout.shape == (10, 8000)
    assert data.train.dtype == data.holdout.dtype == torch.float32
    assert np.bincount(data.train_labels).tolist() == [2] * 10
    assert sorted(data.test_labels.tolist()) == list(range(10))
    assert sorted(data.holdout_labels.tolist()) == list(range(10))  # the data row's classes
    everything = torch.cat([data.train, data.test, data.holdout])
    assert len(torch.unique(everything, dim=0)) == 40
    assert float(everything.abs().max()) <= 1.0


def test_fingerprint_is_stable_across_instances(task, tmp_path):
    other = DigitsAudioTask(SMALL, cache_dir=tmp_path)  # synthesised afresh
    assert other.fingerprint() == task.fingerprint()
    shifted = DigitsAudioTask(SMALL, cache_dir=tmp_path, split_seed=1)
    assert shifted.fingerprint() != task.fingerprint()


def test_environment_variable_picks_the_cache(monkeypatch, tmp_path):
    tiny = DigitSynthesisConfig(clips_per_digit=3, seed=11)
    monkeypatch.setenv("GENBENCH_CACHE_DIR", str(tmp_path))
    DigitsAudioTask(tiny).load()
    assert len(list((tmp_path / "audio-digits").glob("*.npz"))) == 1


def test_likelihood_batch_is_mu_law_codes(task):
    codes = task.likelihood_batch("smoke")
    test = task.load().test
    assert codes.dtype == torch.int64 and codes.shape == (10, 8000)
    assert int(codes.min()) >= 0 and int(codes.max()) <= 255
    assert torch.equal(codes, task.encode_mulaw(test))
    assert float((task.decode_mulaw(codes) - test).abs().max()) < 0.022
    assert task.dimension_counts(codes)["dim"].tolist() == [8000] * 10


def test_reference_is_the_waveform_test_split(task):
    reference = task.reference("smoke")
    assert torch.equal(reference, task.load().test)


def test_sample_validation(task):
    good = task.load().test[:3]
    assert task.validate_samples(good, 3) is not None
    with pytest.raises(SampleValidationError, match=r"\[-1, 1\]"):
        task.validate_samples(good * 2, 3)
    with pytest.raises(SampleValidationError, match="expected shape"):
        task.validate_samples(good[:, :4000], 3)
    with pytest.raises(SampleValidationError, match="expected dtype"):
        task.validate_samples(task.encode_mulaw(good), 3)


def test_features_of_the_test_split(task):
    extractor = task.feature_extractor()
    assert extractor is task.feature_extractor()
    data = task.load()
    features, probabilities = extractor.extract(data.test)
    assert features.shape == (10, 128)
    predicted = probabilities.argmax(axis=1)
    assert (predicted == data.test_labels).mean() >= 0.9


def test_preview_writes_spectrograms_and_wavs(task, tmp_path):
    samples = task.load().train[:10]
    png = task.save_preview(samples, tmp_path / "previews" / "vae-beta1.5")
    assert png == tmp_path / "previews" / "vae-beta1.5.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wavs = sorted((tmp_path / "previews").glob("*.wav"))
    assert [p.name for p in wavs] == [f"vae-beta1.5-{i}.wav" for i in range(8)]
    with wave.open(str(wavs[0])) as handle:
        assert handle.getframerate() == 8000 and handle.getnframes() == 8000
        pcm = np.frombuffer(handle.readframes(8000), dtype="<i2")
    np.testing.assert_allclose(pcm / 32767, samples[0].numpy(), atol=1 / 32767)


def test_preview_rejects_bad_shapes(task, tmp_path):
    with pytest.raises(ValueError, match=r"waveforms of shape \(N, T\)"):
        task.save_preview(torch.zeros(8000), tmp_path / "x")


def test_class_balanced_order_prefixes():
    labels = np.repeat(np.arange(4), [10, 10, 5, 5])
    order = class_balanced_order(labels, seed=0)
    assert sorted(order.tolist()) == list(range(30))
    first = labels[order[:6]]
    assert np.bincount(first, minlength=4).tolist() == [2, 2, 1, 1]
