"""Stable seed derivation.

Seeds are derived from a base seed and names with SHA-256, never with
Python's salted ``hash()``, so the same (seed, model, task, purpose) gives
the same integer on every machine and in every process.
"""

from __future__ import annotations

import hashlib


def derive_seed(base_seed: int, *parts: str | int) -> int:
    """A 63-bit seed determined by ``base_seed`` and ``parts``.

    >>> derive_seed(0, "vae", "image/mnist", "fit") == derive_seed(0, "vae", "image/mnist", "fit")
    True
    """
    text = "\x1f".join([str(int(base_seed)), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
