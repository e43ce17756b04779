"""Stable hashes: content hashes of data, canonical-JSON hashes of
configurations, and seed derivation.

Everything here is independent of the process, the machine and Python's
salted ``hash()``: the same input gives the same hex digest or integer
everywhere, so caches and seeds agree across workers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch


def content_hash(obj: Any) -> str:
    """Stable SHA-256 (hex) of arrays, tensors, strings and lists of them.

    Dtype and shape are part of the hash, so ``uint8`` and ``float32`` views
    of the same values differ. ``None`` hashes to a fixed value.

    Raises:
        TypeError: an object of another type somewhere inside ``obj``.
    """
    digest = hashlib.sha256()
    _update(digest, obj)
    return digest.hexdigest()


def _update(digest: Any, obj: Any) -> None:
    if obj is None:
        digest.update(b"none")
    elif isinstance(obj, torch.Tensor):
        _update(digest, obj.detach().cpu().contiguous().numpy())
    elif isinstance(obj, np.ndarray):
        array = np.ascontiguousarray(obj)
        digest.update(f"nd:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(obj, str):
        encoded = obj.encode()
        digest.update(f"str:{len(encoded)}:".encode())
        digest.update(encoded)
    elif isinstance(obj, bytes):
        digest.update(f"bytes:{len(obj)}:".encode())
        digest.update(obj)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"seq:{len(obj)}:".encode())
        for item in obj:
            _update(digest, item)
    else:
        raise TypeError(f"cannot content-hash an object of type {type(obj).__name__}")


def json_sha256(obj: Any) -> str:
    """SHA-256 (hex) of ``obj`` as compact JSON with sorted keys; values JSON
    cannot hold are written with ``str``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Any) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def derive_seed(base_seed: int, *parts: str | int) -> int:
    """A 63-bit seed determined by ``base_seed`` and ``parts``.

    >>> derive_seed(0, "vae", "image/mnist", "fit") == derive_seed(0, "vae", "image/mnist", "fit")
    True
    """
    text = "\x1f".join([str(int(base_seed)), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
