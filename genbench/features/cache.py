"""A content-addressed cache of features and other derived arrays.

Keys are SHA-256 digests of everything the value depends on, so a changed
dataset (one pixel), extractor, weights file or feature code can never
reuse a stale entry; there is nothing to invalidate by hand.

Entries are uncompressed ``.npz`` files read with ``allow_pickle=False``:
no pickle is ever written or loaded, and the zip format's CRC-32, which
numpy's loader checks, detects a truncated or corrupted file. Such a file
is recomputed and replaced, never trusted. Writes go to a temporary file in
the same directory and are moved into place with :func:`os.replace`, so
concurrent workers and interrupted runs never expose a partial file.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from genbench.features.base import FeatureExtractor
from genbench.hashing import content_hash

FEATURE_CODE_VERSION = "1"
"""Part of every key; bump when feature computation changes in a way the
extractor's name and weights hash do not capture."""

FEATURES_ENTRY = "features"
_ENTRY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

logger = logging.getLogger(__name__)


@dataclass
class CacheStats:
    """Counts since the cache object was made: ``hits``, ``misses`` (absent
    entries) and ``corrupt`` (unreadable entries that were recomputed)."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0


class FeatureCache:
    """Cache of feature matrices and named array bundles under ``root``.

    Layout: ``root/features/<key>.npz`` and ``root/arrays/<key>.npz``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.stats = CacheStats()

    def features_key(self, extractor: FeatureExtractor, x: Any) -> str:
        """``sha256(content_hash(x) | extractor.name | weights SHA-256 |
        FEATURE_CODE_VERSION)`` (each part length-prefixed, hex digest), with
        the extractor's device kind appended when it is not the CPU: features
        from another device differ in their last bits, and CPU runs must
        read back exactly their own."""
        device = [] if extractor.device.type == "cpu" else [extractor.device.type]
        return content_hash(
            [
                "features",
                content_hash(x),
                extractor.name,
                extractor.weights_sha256(),
                FEATURE_CODE_VERSION,
                *device,
            ]
        )

    def features(self, extractor: FeatureExtractor, x: Any) -> np.ndarray:
        """The features ``extractor.extract(x)[0]``, from the cache when
        present.

        A cached entry is used only if it reads back intact as a ``float32``
        array of shape ``(len(x), extractor.dim)``; otherwise the features are
        computed and written.
        """
        path = self.root / "features" / f"{self.features_key(extractor, x)}.npz"
        expected_shape = (len(x), extractor.dim)
        cached = self._read(path)
        if cached is not None:
            features = cached.get(FEATURES_ENTRY)
            if (
                len(cached) == 1
                and features is not None
                and features.dtype == np.float32
                and features.shape == expected_shape
            ):
                self.stats.hits += 1
                return features
            self._discard(path, f"holds {_describe(cached)}, expected float32 {expected_shape}")
        features = np.asarray(extractor.extract(x)[0])
        if features.dtype != np.float32 or features.shape != expected_shape:
            raise ValueError(
                f"extractor {extractor.name!r} returned {features.dtype} {features.shape}, "
                f"expected float32 {expected_shape}"
            )
        _write_atomic(path, {FEATURES_ENTRY: features})
        return features

    def arrays(
        self, key_parts: Sequence[str], compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """The arrays ``compute()`` returns, cached under ``key_parts``.

        ``key_parts`` must name everything the arrays depend on (e.g. a
        purpose, a code version, a task fingerprint, an extractor and its
        weights hash). Values must be numeric or string arrays (no objects).
        """
        if isinstance(key_parts, str) or not all(isinstance(p, str) for p in key_parts):
            raise TypeError("key_parts must be a sequence of strings")
        key = content_hash(["arrays", FEATURE_CODE_VERSION, *key_parts])
        path = self.root / "arrays" / f"{key}.npz"
        cached = self._read(path)
        if cached is not None:
            self.stats.hits += 1
            return cached
        arrays = {name: np.asarray(value) for name, value in compute().items()}
        for name, value in arrays.items():
            if not isinstance(name, str) or not _ENTRY_NAME.fullmatch(name):
                raise ValueError(f"array name {name!r} must match {_ENTRY_NAME.pattern}")
            if value.dtype.hasobject:
                raise TypeError(f"array {name!r} has dtype object, which cannot be cached")
        _write_atomic(path, arrays)
        return arrays

    def _read(self, path: Path) -> dict[str, np.ndarray] | None:
        """The arrays in ``path``; ``None`` when it is absent or unreadable
        (an unreadable file is removed)."""
        try:
            with np.load(path, allow_pickle=False) as bundle:
                return {name: bundle[name] for name in bundle.files}
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            self._discard(path, f"is unreadable ({type(exc).__name__}: {exc})")
            return None

    def _discard(self, path: Path, reason: str) -> None:
        self.stats.corrupt += 1
        logger.warning("cache entry %s %s; recomputing it", path, reason)
        path.unlink(missing_ok=True)


def _describe(arrays: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name}: {a.dtype} {a.shape}" for name, a in arrays.items()) or "nothing"


def _write_npz(stream: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """The ``.npz`` format (a zip of ``<name>.npy`` members, stored
    uncompressed), written without pickle and without ``np.savez``'s keyword
    arguments, which a bundle entry named like one would collide with."""
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` at ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            _write_npz(stream, arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
