"""The committed in-domain classifiers and their training script."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.features.classifier import WEIGHTS_DIR, ClassifierFeatures, weights_paths
from genbench.tasks.image import DigitsTask, MnistTask
from tools.train_classifier import random_shift, train_and_write

ACCURACY_FLOORS = {"mnist": 0.97, "digits": 0.95}
MAX_WEIGHTS_BYTES = 600_000


@pytest.fixture(scope="module")
def tasks() -> dict[str, DigitsTask | MnistTask]:
    return {"mnist": MnistTask(), "digits": DigitsTask()}


@pytest.mark.parametrize("key", ["mnist", "digits"])
def test_committed_weights_meet_the_accuracy_floor(key: str, tasks) -> None:
    extractor = ClassifierFeatures(key)
    data = tasks[key].load()
    predicted = extractor.extract(data.test)[1].argmax(axis=1)
    accuracy = float((predicted == data.test_labels).mean())
    assert accuracy >= ACCURACY_FLOORS[key]
    assert accuracy == pytest.approx(extractor.metadata["test_accuracy"], abs=1e-9)


@pytest.mark.parametrize("key", ["mnist", "digits"])
def test_metadata_matches_the_weights_and_the_task(key: str, tasks) -> None:
    weights, metadata_path = weights_paths(key)
    metadata = json.loads(metadata_path.read_text())
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == metadata["weights_sha256"]
    assert weights.stat().st_size < MAX_WEIGHTS_BYTES
    task = tasks[key]
    assert metadata["task"] == task.name
    # trained on exactly this data and split
    assert metadata["task_fingerprint"] == task.fingerprint()
    assert metadata["n_train"] == len(task.load().train)
    assert {"seed", "epochs"} <= set(metadata["recipe"])
    extractor = ClassifierFeatures(key)
    assert extractor.weights_sha256() == metadata["weights_sha256"]
    assert extractor.name == f"{key}-cnn" and extractor.dim == 128


def test_extract_is_deterministic_and_batch_size_independent(tasks) -> None:
    images = tasks["mnist"].load().test[:150]
    large, large_probabilities = ClassifierFeatures("mnist", batch_size=256).extract(images)
    small, small_probabilities = ClassifierFeatures("mnist", batch_size=7).extract(images)
    assert large.shape == (150, 128) and large.dtype == np.float32
    np.testing.assert_allclose(small, large, atol=1e-5, rtol=0)
    np.testing.assert_allclose(small_probabilities, large_probabilities, atol=1e-5, rtol=0)
    again, again_probabilities = ClassifierFeatures("mnist").extract(images)
    assert np.array_equal(again, large) and np.array_equal(again_probabilities, large_probabilities)
    assert np.isfinite(large).all() and large.std() > 0.1


def test_one_forward_pass_serves_features_and_probabilities(tasks, monkeypatch) -> None:
    extractor = ClassifierFeatures("digits", batch_size=3)
    images = tasks["digits"].load().test[:8]
    passes = []
    original = extractor.model.features
    monkeypatch.setattr(extractor.model, "features", lambda x: passes.append(len(x)) or original(x))
    features, probabilities = extractor.extract(images)
    assert passes == [3, 3, 2]  # each batch through the network once
    assert features.shape == (8, 128) and probabilities.shape == (8, 10)


def test_probabilities_are_a_softmax_of_the_logits(tasks) -> None:
    extractor = ClassifierFeatures("digits")
    images = tasks["digits"].load().test[:20]
    features, probabilities = extractor.extract(images)
    assert probabilities.dtype == np.float64 and probabilities.shape == (20, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    with torch.inference_mode():
        logits = extractor.model.head(torch.from_numpy(features)).numpy().astype(np.float64)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-10)


def test_input_is_scaled_by_the_tasks_levels(tasks) -> None:
    """A 17-level image and the same image as 8-bit on the MNIST scale are
    different inputs: the digits classifier divides by 16, not 255."""
    extractor = ClassifierFeatures("digits")
    model = extractor.model
    image = tasks["digits"].load().test[:1]
    manual = model.body(image.float() / 16).detach().numpy()
    np.testing.assert_allclose(extractor.extract(image)[0], manual, atol=1e-6)


def test_empty_input_gives_empty_arrays() -> None:
    empty = torch.zeros((0, 1, 8, 8), dtype=torch.uint8)
    features, probabilities = ClassifierFeatures("digits").extract(empty)
    assert features.shape == (0, 128) and features.dtype == np.float32
    assert probabilities.shape == (0, 10) and probabilities.dtype == np.float64


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (
            torch.zeros((2, 1, 8, 8)),
            TypeError,
            "expects a torch.uint8 image tensor, got torch.float32",
        ),
        ([[0]], TypeError, "got list"),
        (torch.zeros((2, 1, 28, 28), dtype=torch.uint8), ValueError, r"shape N x 1 x 8 x 8"),
        (torch.full((2, 1, 8, 8), 17, dtype=torch.uint8), ValueError, r"\[0, 16\] \(17 levels\)"),
    ],
)
def test_bad_input_is_rejected(images, error, message: str) -> None:
    with pytest.raises(error, match=message):
        ClassifierFeatures("digits").extract(images)


def test_missing_weights_name_the_training_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python tools/train_classifier\.py"):
        ClassifierFeatures("nonexistent")
    with pytest.raises(FileNotFoundError, match=r"digits\.safetensors is missing"):
        ClassifierFeatures("digits", weights_dir=tmp_path)


def test_a_modified_weights_file_is_rejected(tmp_path: Path) -> None:
    for path in weights_paths("digits", WEIGHTS_DIR):
        shutil.copy(path, tmp_path / path.name)
    weights = tmp_path / "digits.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="stale or corrupted"):
        ClassifierFeatures("digits", weights_dir=tmp_path)


def test_random_shift_moves_content_and_fills_zeros() -> None:
    image = torch.zeros((1, 1, 5, 5), dtype=torch.uint8)
    image[0, 0, 2, 2] = 9
    generator = torch.Generator().manual_seed(0)
    shifted = random_shift(image.repeat(200, 1, 1, 1), 1, generator)
    rows, cols = np.nonzero(shifted[:, 0].numpy().sum(axis=0))
    assert set(rows.tolist()) == {1, 2, 3} and set(cols.tolist()) == {1, 2, 3}
    assert shifted.sum(dim=(1, 2, 3)).unique().tolist() == [9]
    assert torch.equal(random_shift(image, 0, generator), image)


def test_training_is_seeded_and_writes_verified_files(tmp_path: Path) -> None:
    first = train_and_write("image/digits", out_dir=tmp_path / "a", epochs=2)
    second = train_and_write("image/digits", out_dir=tmp_path / "b", epochs=2)
    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["recipe"]["epochs"] == 2 and first["n_test"] == 359
    loaded = ClassifierFeatures("digits", weights_dir=tmp_path / "a")
    assert loaded.metadata == first
    # two epochs (34 steps) reach about 70%, five times chance; 40 epochs 98.9%
    assert first["test_accuracy"] > 0.5


def test_training_rejects_unknown_tasks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no classifier recipe for task 'image/faces'"):
        train_and_write("image/faces", out_dir=tmp_path)
