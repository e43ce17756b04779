"""Image-folder and CIFAR-10 tasks on tiny files written by the tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.features.inception import InceptionWeightsError
from genbench.tasks.folder import (
    CIFAR_TEST_BATCH,
    CIFAR_TRAIN_BATCHES,
    Cifar10Task,
    ImageFolderTask,
    read_cifar_batch,
)


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _gray(seed: int, size: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


# -- image folders ---------------------------------------------------------------


def test_class_subfolders_become_labels(tmp_path: Path) -> None:
    for label, name in enumerate(["cats", "dogs"]):
        for i in range(10):
            _write_png(tmp_path / name / f"{i:02d}.png", _gray(100 * label + i))
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    task = ImageFolderTask("image/pets", tmp_path)
    assert task.name == "image/pets" and task.classes == ("cats", "dogs")
    assert task.example_shape == (1, 6, 6) and task.levels == 256
    data = task.load()
    assert data.train.dtype == torch.uint8 and tuple(data.test.shape) == (4, 1, 6, 6)
    assert tuple(data.holdout.shape) == (4, 1, 6, 6)
    assert np.bincount(data.test_labels).tolist() == [2, 2]
    assert np.bincount(data.train_labels).tolist() == [6, 6]
    assert dict(task.eval_samples) == {"smoke": 4, "default": 4, "full": 4}
    # pixels survive the round trip, and each image keeps its folder's label
    every = {bytes(_gray(100 * label + i)): label for label in (0, 1) for i in range(10)}
    for image, label in zip(data.test, data.test_labels, strict=True):
        assert every[image[0].numpy().tobytes()] == label


def test_flat_rgb_folder_is_unlabelled(tmp_path: Path) -> None:
    for i in range(5):
        rgb = np.stack([_gray(i, 4), _gray(i + 50, 4), _gray(i + 99, 4)], axis=-1)
        _write_png(tmp_path / f"img{i}.PNG", rgb)
    task = ImageFolderTask("image/flat", tmp_path)
    data = task.load()
    assert task.example_shape == (3, 4, 4)
    assert data.train_labels is None and data.test_labels is None
    assert (len(data.train), len(data.test), len(data.holdout)) == (3, 1, 1)
    all_images = torch.cat([data.train, data.test])
    first = torch.from_numpy(np.stack([_gray(0, 4), _gray(50, 4), _gray(99, 4)]))
    assert any(torch.equal(image, first) for image in all_images)


def test_folder_name_is_validated_and_instances_are_independent(tmp_path: Path) -> None:
    for i in range(5):
        _write_png(tmp_path / f"{i}.png", _gray(i))
    first = ImageFolderTask("image/a", tmp_path)
    second = ImageFolderTask("image/b", tmp_path)
    assert (first.name, second.name) == ("image/a", "image/b")
    assert first.fingerprint() != second.fingerprint()
    with pytest.raises(ValueError, match="must look like '<modality>/<name>'"):
        ImageFolderTask("faces", tmp_path)


def test_fingerprint_follows_the_files(tmp_path: Path) -> None:
    for i in range(5):
        _write_png(tmp_path / f"{i}.png", _gray(i))
    before = ImageFolderTask("image/x", tmp_path).fingerprint()
    changed = _gray(3)
    changed[0, 0] ^= 1
    _write_png(tmp_path / "3.png", changed)
    assert ImageFolderTask("image/x", tmp_path).fingerprint() != before


@pytest.mark.parametrize(
    ("layout", "error", "message"),
    [
        ("missing", FileNotFoundError, "does not exist or is not a directory"),
        ("empty", ValueError, "no PNG images in"),
        ("mixed", ValueError, "both directly and in subfolders"),
        ("rgba", ValueError, "has PNG mode 'RGBA'"),
        ("sizes", ValueError, r"has shape \(1, 5, 5\) .* all images in .* must match"),
        ("jpeg", ValueError, "is not a PNG file"),
        ("too_few", ValueError, "splitting 2 examples .* leaves an empty split"),
    ],
)
def test_folder_errors(tmp_path: Path, layout: str, error: type, message: str) -> None:
    root = tmp_path / "images"
    if layout != "missing":
        root.mkdir()
    if layout == "empty":
        (root / "readme.txt").write_text("no images here")
    if layout == "mixed":
        _write_png(root / "a.png", _gray(0))
        _write_png(root / "class0" / "b.png", _gray(1))
    if layout == "rgba":
        _write_png(root / "a.png", np.zeros((4, 4, 4), dtype=np.uint8))
    if layout == "sizes":
        for i in range(4):
            _write_png(root / f"a{i}.png", _gray(i, 6))
        _write_png(root / "b.png", _gray(9, 5))
    if layout == "too_few":
        _write_png(root / "a.png", _gray(0))
        _write_png(root / "b.png", _gray(1))
    if layout == "jpeg":
        Image.fromarray(_gray(0)).save(root / "a.png", format="JPEG")
    with pytest.raises(error, match=message):
        ImageFolderTask("image/bad", root).load()


def test_folder_feature_extractor_needs_inception_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GENBENCH_INCEPTION_WEIGHTS", raising=False)
    for i in range(5):
        _write_png(tmp_path / f"{i}.png", _gray(i))
    with pytest.raises(InceptionWeightsError, match="GENBENCH_INCEPTION_WEIGHTS"):
        ImageFolderTask("image/five", tmp_path).feature_extractor()


def test_folder_preview(tmp_path: Path) -> None:
    for i in range(5):
        _write_png(tmp_path / "data" / f"{i}.png", _gray(i))
    task = ImageFolderTask("image/p", tmp_path / "data")
    written = task.save_preview(task.load().train, tmp_path / "preview")
    with Image.open(written) as image:
        assert image.mode == "L" and image.size == (3 * 38 + 2, 38 + 2)


# -- CIFAR-10 ----------------------------------------------------------------------


def _batch(n: int, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def _as_numpy1_pickle(batch: dict) -> bytes:
    """A protocol-2 pickle naming ``numpy.core`` as numpy 1 (and the
    original Python 2 download) does."""
    text = pickle.dumps(batch, protocol=2)
    return text.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for index, name in enumerate(CIFAR_TRAIN_BATCHES):
        (root / name).write_bytes(pickle.dumps(_batch(4, index), protocol=2))
    (root / CIFAR_TEST_BATCH).write_bytes(_as_numpy1_pickle(_batch(6, 99)))
    return root


def test_cifar_batches_load_with_the_official_split(cifar_dir: Path) -> None:
    task = Cifar10Task("image/cifar10", cifar_dir)
    data = task.load()
    assert tuple(data.train.shape) == (20, 3, 32, 32) and tuple(data.test.shape) == (6, 3, 32, 32)
    assert data.train.dtype == torch.uint8 and data.train_labels.dtype == np.int64
    test = _batch(6, 99)
    assert data.test_labels.tolist() == test[b"labels"]
    rows = test[b"data"]
    # each row: 1024 red, then green, then blue values, row-major
    assert data.test[2, 0, 0, 0] == rows[2, 0] and data.test[2, 1, 0, 0] == rows[2, 1024]
    assert data.test[2, 2, 1, 3] == rows[2, 2048 + 32 + 3]
    assert torch.equal(
        data.train[4:8], torch.from_numpy(_batch(4, 1)[b"data"].reshape(4, 3, 32, 32))
    )
    assert task.example_shape == (3, 32, 32) and task.levels == 256
    assert data.holdout is None


def test_cifar_feature_extractor_needs_inception_weights(cifar_dir, monkeypatch) -> None:
    monkeypatch.delenv("GENBENCH_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(InceptionWeightsError, match="set GENBENCH_INCEPTION_WEIGHTS"):
        Cifar10Task("image/cifar10", cifar_dir).feature_extractor()


def test_cifar_directory_errors(cifar_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Cifar10Task("image/cifar10", tmp_path / "nowhere")
    (cifar_dir / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing \['data_batch_3'\]"):
        Cifar10Task("image/cifar10", cifar_dir)


class _Exploit:
    """Unpickling this would create a file: the reader must refuse first."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("exploit", r"forbidden global io\.open"),
        ("garbage", "is not a readable CIFAR-10 python batch"),
        ("str_keys", "expected keys b'data' and b'labels', got 'data', 'labels'"),
        ("float_data", "must be a uint8 N x 3072 array"),
        ("short_rows", r"has shape \(2, 100\)"),
        ("bad_labels", r"labels must be integers in \[0, 9\]"),
    ],
)
def test_bad_cifar_batches_are_rejected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "data_batch_1"
    sentinel = tmp_path / "pwned"
    payloads = {
        "exploit": {b"data": _Exploit(sentinel), b"labels": [0]},
        "str_keys": {"data": np.zeros((1, 3072), np.uint8), "labels": [0]},
        "float_data": {b"data": np.zeros((1, 3072)), b"labels": [0]},
        "short_rows": {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},
        "bad_labels": {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
    }
    if content == "garbage":
        path.write_bytes(b"\x80\x02not a pickle at all")
    else:
        path.write_bytes(pickle.dumps(payloads[content], protocol=2))
    with pytest.raises(ValueError, match=message):
        read_cifar_batch(path)
    assert not sentinel.exists()
