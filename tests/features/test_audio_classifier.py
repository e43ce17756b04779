"""The committed audio digit classifier: weights and hash, accuracy on clips it
never saw (which also checks the synthesised labels), the embedding contract,
and the training code."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from genbench.features.audio_classifier import (
    METADATA_PATH,
    WEIGHTS_PATH,
    AudioClassifierFeatures,
    DigitAudioCNN,
    load_digit_classifier,
)
from genbench.features.waveform import resample
from genbench.hashing import file_sha256
from genbench.tasks.audio import digit_set_key
from genbench.tasks.audio_synth import DigitSynthesisConfig, ESpeakNG, synthesize_digits
from tools.train_audio_classifier import (
    TrainingSettings,
    augment,
    confusion_matrix,
    predict,
    save_classifier,
    train_classifier,
)

# A seed the committed classifier was not trained with (it used seed 0).
UNSEEN = DigitSynthesisConfig(clips_per_digit=2, seed=20_261_128)


@pytest.fixture(scope="module")
def extractor() -> AudioClassifierFeatures:
    return AudioClassifierFeatures()


@pytest.fixture(scope="module")
def unseen():
    return synthesize_digits(UNSEEN)


def test_committed_weights_match_their_metadata():
    metadata = json.loads(METADATA_PATH.read_text())
    assert file_sha256(WEIGHTS_PATH) == metadata["sha256"]
    assert WEIGHTS_PATH.stat().st_size < 1_000_000
    assert metadata["architecture"]["embedding_dim"] == 128
    assert metadata["task"] == "audio/digits"
    assert metadata["test_examples"] == 1000
    assert metadata["test_accuracy"] >= 0.97
    confusion = np.array(metadata["test_confusion"])
    assert confusion.sum() == 1000
    assert np.trace(confusion) / 1000 == pytest.approx(metadata["test_accuracy"], abs=1e-4)


def test_weights_were_trained_on_the_current_digit_set():
    """The synthesis parameters and eSpeak NG version behind the committed
    weights are today's (otherwise: retrain with tools/train_audio_classifier.py)."""
    metadata = json.loads(METADATA_PATH.read_text())
    assert metadata["data_key"] == digit_set_key(DigitSynthesisConfig(), ESpeakNG())


def test_classifies_unseen_clips(extractor, unseen):
    predicted = extractor.extract(unseen.waveforms)[1].argmax(axis=1)
    assert (predicted == unseen.labels).mean() >= 0.9


def test_embedding_contract(extractor, unseen):
    features, _ = extractor.extract(unseen.waveforms)
    assert features.shape == (20, 128) and extractor.dim == 128
    assert features.dtype == np.float32
    assert np.isfinite(features).all() and features.std(axis=0).max() > 0
    assert extractor.name == "audio-digits-cnn"
    assert extractor.weights_sha256() == file_sha256(WEIGHTS_PATH)
    tensor_input, _ = extractor.extract(torch.from_numpy(unseen.waveforms))
    np.testing.assert_array_equal(features, tensor_input)


def test_results_do_not_depend_on_batch_size(extractor, unseen):
    whole, whole_probabilities = extractor.extract(unseen.waveforms)
    for batch_size in (1, 7):
        features, probabilities = AudioClassifierFeatures(batch_size=batch_size).extract(
            unseen.waveforms
        )
        np.testing.assert_allclose(features, whole, atol=1e-5)
        np.testing.assert_allclose(probabilities, whole_probabilities, atol=1e-5)


def test_one_forward_pass_serves_embedding_and_probabilities(unseen, monkeypatch):
    extractor = AudioClassifierFeatures(batch_size=8)
    passes = []
    original = extractor.model.embed
    monkeypatch.setattr(extractor.model, "embed", lambda x: passes.append(len(x)) or original(x))
    extractor.extract(unseen.waveforms)
    assert passes == [8, 8, 4]  # each batch through the network once (20 clips)


def test_class_probabilities_are_distributions(extractor, unseen):
    _, probabilities = extractor.extract(unseen.waveforms)
    assert probabilities.shape == (20, 10) and probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert (probabilities >= 0).all()


def test_other_input_rates_are_resampled(unseen):
    at_16k = resample(unseen.waveforms, 8000, 16000).astype(np.float32)
    extractor = AudioClassifierFeatures(input_sample_rate=16000)
    assert extractor.input_samples == 16000
    predicted = extractor.extract(at_16k)[1].argmax(axis=1)
    assert (predicted == unseen.labels).mean() >= 0.9


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (
            np.zeros((2, 16000), dtype=np.float32),
            r"shape \(N, 8000\) \(1 s at 8000 Hz\).*sample rate",
        ),
        (np.zeros(8000, dtype=np.float32), r"got torch.float32 \(8000,\)"),
        (np.zeros((2, 8000), dtype=np.int64), r"float waveforms.*got torch.int64"),
        (np.zeros((0, 8000), dtype=np.float32), r"got shape \(0, 8000\)"),
    ],
)
def test_bad_inputs_are_rejected(extractor, x, match):
    with pytest.raises(ValueError, match=match):
        extractor.extract(x)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="input_sample_rate must be positive"):
        AudioClassifierFeatures(input_sample_rate=0)
    with pytest.raises(ValueError, match="input_sample_rate must be an integer in Hz"):
        AudioClassifierFeatures(input_sample_rate=16000.0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        AudioClassifierFeatures(batch_size=0)


def test_tampered_or_missing_weights_are_refused(tmp_path):
    weights = tmp_path / "w.safetensors"
    content = bytearray(WEIGHTS_PATH.read_bytes())
    content[-1] ^= 0xFF
    weights.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=r"have SHA-256 \w+, but .* records"):
        load_digit_classifier(weights, METADATA_PATH)
    with pytest.raises(FileNotFoundError, match=r"python tools/train_audio_classifier\.py"):
        AudioClassifierFeatures(weights_path=tmp_path / "missing.safetensors")


# -- training ----------------------------------------------------------------------

QUICK = TrainingSettings(epochs=1, batch_size=10, seed=3)


def test_training_is_seeded_and_saves_what_loads(unseen, tmp_path):
    x, y = torch.from_numpy(unseen.waveforms), torch.from_numpy(unseen.labels)
    silent = lambda message: None  # noqa: E731
    first = train_classifier(x, y, 8000, QUICK, log=silent)
    second = train_classifier(x, y, 8000, QUICK, log=silent)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name

    weights, metadata = tmp_path / "m.safetensors", tmp_path / "m.json"
    digest = save_classifier(first, {"note": "smoke"}, weights, metadata)
    assert digest == file_sha256(weights)
    loaded, record = load_digit_classifier(weights, metadata)
    assert record["note"] == "smoke" and record["architecture"] == first.architecture
    np.testing.assert_array_equal(predict(loaded, x), predict(first, x))
    assert not list(tmp_path.glob("*.tmp"))


def test_augment_with_neutral_settings_is_the_identity():
    x = torch.rand(4, 800, generator=torch.Generator().manual_seed(0)) - 0.5
    neutral = dataclasses.replace(
        QUICK, max_shift_seconds=0.0, gain_db=(0.0, 0.0), noise_dbfs=(-400.0, -400.0)
    )
    out = augment(x, 8000, neutral, torch.Generator().manual_seed(1))
    assert torch.allclose(out, x, atol=1e-12)


def test_augment_shifts_with_zero_fill_and_is_seeded():
    x = torch.ones(16, 8000)
    settings = dataclasses.replace(QUICK, gain_db=(0.0, 0.0), noise_dbfs=(-400.0, -400.0))
    out = augment(x, 8000, settings, torch.Generator().manual_seed(1))
    filled = out.abs() < 1e-6  # the noise at -400 dB is 1e-20
    assert 0 < int(filled.sum(dim=1).max()) <= 800  # shifts of up to 0.1 s at 8 kHz
    assert torch.allclose(out[~filled], torch.ones(1))  # the rest is the clip itself
    again = augment(x, 8000, settings, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    assert float(augment(x, 8000, QUICK, torch.Generator()).abs().max()) <= 1.0


def test_confusion_matrix():
    matrix = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), classes=3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_architecture_is_small():
    parameters = sum(p.numel() for p in DigitAudioCNN().parameters())
    assert parameters * 4 < 1_000_000
