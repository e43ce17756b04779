"""Image tasks on the user's own files: a folder of PNG images, and the
CIFAR-10 "python version" batch directory.

Both are built from a path, so they take their ``name`` (``"image/<x>"``)
and ``root`` in ``__init__``; both are evaluated with Inception-v3 features
(:class:`~genbench.features.inception.InceptionFeatures`), whose weights
file the user supplies through ``GENBENCH_INCEPTION_WEIGHTS``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pickle
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from PIL import Image

from genbench.features.inception import InceptionFeatures
from genbench.tasks.base import TaskData
from genbench.tasks.image import (
    HELD_OUT_FRACTIONS,
    SPLIT_SEED,
    ImageTask,
    split_images,
)
from genbench.tasks.splits import stratified_split

PNG_MODES = ("L", "RGB")
"""Accepted PNG modes: 8-bit gray (one channel) and 8-bit RGB (three)."""


class _InceptionImageTask(ImageTask):
    """An image task on user files, named and rooted per instance, whose
    feature extractor is Inception-v3."""

    levels = 256

    def __init__(self, name: str, root: str | Path, inception_weights: str | Path | None) -> None:
        self.name = name
        self.root = Path(root)
        self._inception_weights = inception_weights
        self._extractor: InceptionFeatures | None = None
        super().__init__()

    def feature_extractor(self) -> InceptionFeatures:
        """Inception-v3 pool features; raises
        :class:`~genbench.features.inception.InceptionWeightsError` naming
        ``GENBENCH_INCEPTION_WEIGHTS`` when no weights file is configured."""
        if self._extractor is None:
            self._extractor = InceptionFeatures(self._inception_weights, levels=self.levels)
        return self._extractor


class ImageFolderTask(_InceptionImageTask):
    """PNG images in ``root``, either all directly in it (unlabelled) or in
    one subfolder per class (labels ``0..K-1`` in sorted folder-name order).

    Every image must have the same size and mode, 8-bit gray (``L``) or RGB.
    The split is :func:`~genbench.tasks.splits.stratified_split` (60/20/20
    train/test/holdout, fixed seed; by class when labelled). Files are read
    in sorted order, so the split depends only on the files' names and
    contents. Sample counts per budget are capped at the test split's size.

    Args:
        name: task name, ``"image/<name>"``.
        root: the folder.
        inception_weights: Inception weights file (default: the
            ``GENBENCH_INCEPTION_WEIGHTS`` environment variable).

    Raises:
        FileNotFoundError: ``root`` is not a directory.
        ValueError: no PNG images, or too few to split; PNGs both directly
            in ``root`` and in subfolders; an unsupported mode; images of
            different shapes (when loading).
    """

    def __init__(
        self,
        name: str,
        root: str | Path,
        *,
        inception_weights: str | Path | None = None,
    ) -> None:
        super().__init__(name, root, inception_weights)
        self._files, self._labels, self.classes = _find_pngs(self.root)
        self.example_shape = _read_png(self._files[0]).shape
        self.description = f"PNG images in {self.root} ({len(self._files)} files)"
        _, test, _ = stratified_split(self._split_labels(), HELD_OUT_FRACTIONS, SPLIT_SEED)
        self.eval_samples = _capped(type(self).eval_samples, len(test))
        self.likelihood_examples = _capped(type(self).likelihood_examples, len(test))

    def _split_labels(self) -> np.ndarray:
        """Labels to stratify by: the classes, or one class when unlabelled."""
        if self._labels is None:
            return np.zeros(len(self._files), dtype=np.int64)
        return self._labels

    def _load(self) -> TaskData:
        images = np.empty((len(self._files), *self.example_shape), dtype=np.uint8)
        for index, path in enumerate(self._files):
            image = _read_png(path)
            if image.shape != self.example_shape:
                raise ValueError(
                    f"{path} has shape {image.shape} (C x H x W) but {self._files[0].name} "
                    f"has {self.example_shape}; all images in {self.root} must match"
                )
            images[index] = image
        data = split_images(images, self._split_labels())
        if self._labels is None:
            return dataclasses.replace(data, train_labels=None, test_labels=None)
        return data


def _capped(counts: Mapping[str, int], limit: int) -> Mapping[str, int]:
    return MappingProxyType({budget: min(count, limit) for budget, count in counts.items()})


def _pngs_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")


def _find_pngs(root: Path) -> tuple[list[Path], np.ndarray | None, tuple[str, ...]]:
    """``(files, labels or None, class names)`` of an image folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a directory")
    direct = _pngs_in(root)
    class_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and _pngs_in(d)]
    if direct and class_dirs:
        raise ValueError(
            f"{root} holds PNG images both directly and in subfolders "
            f"({', '.join(d.name for d in class_dirs)}); use one layout"
        )
    if direct:
        return direct, None, ()
    if not class_dirs:
        raise ValueError(
            f"no PNG images in {root}: put *.png files in it, or in one subfolder per class"
        )
    files, labels = [], []
    for label, folder in enumerate(class_dirs):
        members = _pngs_in(folder)
        files.extend(members)
        labels.extend([label] * len(members))
    return files, np.array(labels, dtype=np.int64), tuple(d.name for d in class_dirs)


def _read_png(path: Path) -> np.ndarray:
    """One PNG as ``uint8`` ``C x H x W``."""
    with Image.open(path) as image:
        if image.format != "PNG":
            raise ValueError(f"{path} is not a PNG file (found {image.format})")
        if image.mode not in PNG_MODES:
            raise ValueError(
                f"{path} has PNG mode {image.mode!r}; genbench reads 8-bit gray ('L') or "
                "'RGB' images: convert the folder to one of those"
            )
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


# -- CIFAR-10 -----------------------------------------------------------------

CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_CLASSES = 10


class Cifar10Task(_InceptionImageTask):
    """CIFAR-10 from the "python version" directory (``cifar-10-batches-py``):
    ``data_batch_1`` .. ``data_batch_5`` are the train split and
    ``test_batch`` the test split (the official split, in file order). There
    is no holdout split: carving one out of either would break comparability
    with published CIFAR-10 numbers, so the ``data`` baseline does not run
    on this task.

    Images are ``uint8`` ``3 x 32 x 32`` (each batch row holds 1024 red,
    then 1024 green, then 1024 blue values, row-major). Batches are read
    with :func:`read_cifar_batch`, which unpickles safely.

    Args:
        name: task name, e.g. ``"image/cifar10"``.
        root: the batch directory.
        inception_weights: Inception weights file (default: the
            ``GENBENCH_INCEPTION_WEIGHTS`` environment variable).

    Raises:
        FileNotFoundError: ``root`` or one of the six batch files is missing.
    """

    example_shape = (3, 32, 32)
    description = "CIFAR-10, 32x32 RGB, official 50,000/10,000 split"
    eval_samples = MappingProxyType({"smoke": 200, "default": 5000, "full": 10_000})
    likelihood_examples = MappingProxyType({"smoke": 100, "default": 1000, "full": 10_000})

    def __init__(
        self, name: str, root: str | Path, *, inception_weights: str | Path | None = None
    ) -> None:
        super().__init__(name, root, inception_weights)
        if not self.root.is_dir():
            raise FileNotFoundError(f"CIFAR-10 directory {self.root} does not exist")
        missing = [
            f for f in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH) if not (self.root / f).is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"{self.root} is not a CIFAR-10 python batch directory: missing {missing}"
            )

    def _load(self) -> TaskData:
        train = [read_cifar_batch(self.root / f) for f in CIFAR_TRAIN_BATCHES]
        test_images, test_labels = read_cifar_batch(self.root / CIFAR_TEST_BATCH)
        return TaskData(
            train=torch.from_numpy(np.concatenate([images for images, _ in train])),
            test=torch.from_numpy(test_images),
            train_labels=np.concatenate([labels for _, labels in train]),
            test_labels=test_labels,
        )


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (``uint8`` ``N x 3 x 32 x 32``) and labels (``int64``) of one
    CIFAR-10 python batch file.

    The files are Python pickles of a dict with ``b"data"`` (``uint8``
    ``N x 3072``), ``b"labels"`` (``N`` ints in ``0..9``) and descriptive
    entries. Unpickling can run arbitrary code, so the file is read with an
    unpickler that resolves only the few globals a numpy ``uint8`` array
    needs (see :func:`_allowed_globals`) and rejects every other; only the
    two known keys are used. Files written by Python 2 (the original
    download) and by Python 3 / numpy 1 or 2 are accepted.

    Raises:
        ValueError: not such a pickle, a forbidden global, missing keys, or
            data of the wrong shape, dtype or label range.
    """
    try:
        with open(path, "rb") as handle:
            batch = _CifarUnpickler(handle, encoding="bytes").load()
    except Exception as exc:
        raise ValueError(
            f"{path} is not a readable CIFAR-10 python batch: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = ", ".join(sorted(map(repr, batch))) if isinstance(batch, dict) else type(batch)
        raise ValueError(
            f"{path} is not a CIFAR-10 batch: expected keys b'data' and b'labels', got {keys}"
        )
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{path}: b'data' must be a uint8 N x 3072 array")
    if data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise ValueError(
            f"{path}: b'data' has shape {data.shape} and b'labels' {labels.shape}; "
            f"expected (N, 3072) and (N,)"
        )
    if labels.size and (
        labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= CIFAR_CLASSES
    ):
        raise ValueError(f"{path}: labels must be integers in [0, {CIFAR_CLASSES - 1}]")
    return data.reshape(-1, 3, 32, 32).copy(), labels.astype(np.int64)


def _latin1_encode(text: str, encoding: str) -> bytes:
    """What Python 3's protocol-2 pickles use to rebuild ``bytes``."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"unexpected encoding {encoding!r} in a CIFAR batch")
    return text.encode("latin1")


@cache
def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled numpy array refers to, under the module names
    numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) write."""
    modules = {}
    for submodule in ("multiarray", "numeric"):
        try:
            modules[submodule] = importlib.import_module(f"numpy._core.{submodule}")
        except ImportError:
            modules[submodule] = importlib.import_module(f"numpy.core.{submodule}")
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = modules["multiarray"]._reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = modules["numeric"]._frombuffer
    return allowed


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _allowed_globals()[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"forbidden global {module}.{name}: a CIFAR-10 batch holds only numpy arrays, "
                "lists and bytes"
            ) from None
