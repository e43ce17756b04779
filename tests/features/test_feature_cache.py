"""The content-addressed feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.features.base import FeatureExtractor
from genbench.features.cache import FEATURE_CODE_VERSION, FeatureCache
from genbench.hashing import content_hash


class CountingExtractor(FeatureExtractor):
    """Mean and max pixel per image; counts its calls."""

    dim = 2

    def __init__(self, name: str = "counting", weights: str = "w1") -> None:
        self.name = name
        self._weights = weights
        self.calls = 0

    def weights_sha256(self) -> str:
        return self._weights

    def extract(self, x: torch.Tensor) -> tuple[np.ndarray, None]:
        self.calls += 1
        flat = x.reshape(len(x), -1).to(torch.float32)
        return torch.stack([flat.mean(1), flat.max(1).values], dim=1).numpy(), None


@pytest.fixture
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (5, 1, 4, 4), dtype=torch.uint8, generator=generator)


def _entries(root: Path, kind: str) -> list[Path]:
    return sorted((root / kind).glob("*.npz"))


def test_a_hit_returns_identical_arrays_without_the_extractor(tmp_path, images) -> None:
    cache, extractor = FeatureCache(tmp_path), CountingExtractor()
    first = cache.features(extractor, images)
    assert extractor.calls == 1 and len(_entries(tmp_path, "features")) == 1
    fresh_cache, fresh_extractor = FeatureCache(tmp_path), CountingExtractor()
    second = fresh_cache.features(fresh_extractor, images)
    assert fresh_extractor.calls == 0 and fresh_cache.stats.hits == 1
    assert second.dtype == np.float32 and np.array_equal(second, first)
    assert np.array_equal(first, extractor.extract(images)[0])


def test_the_key_is_data_name_weights_and_code_version(tmp_path, images) -> None:
    extractor = CountingExtractor()
    key = FeatureCache(tmp_path).features_key(extractor, images)
    expected = content_hash(
        ["features", content_hash(images), "counting", "w1", FEATURE_CODE_VERSION]
    )
    assert key == expected


def test_one_changed_pixel_misses(tmp_path, images) -> None:
    cache, extractor = FeatureCache(tmp_path), CountingExtractor()
    cache.features(extractor, images)
    changed = images.clone()
    changed[2, 0, 1, 1] ^= 1
    cache.features(extractor, changed)
    assert extractor.calls == 2 and len(_entries(tmp_path, "features")) == 2


def test_changed_weights_or_name_miss(tmp_path, images) -> None:
    cache = FeatureCache(tmp_path)
    for extractor in (
        CountingExtractor(),
        CountingExtractor(weights="w2"),
        CountingExtractor(name="other"),
    ):
        cache.features(extractor, images)
        assert extractor.calls == 1
    assert cache.stats.misses == 3 and cache.stats.hits == 0


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "wrong_shape"])
def test_a_corrupt_entry_is_recomputed_not_trusted(tmp_path, images, damage: str) -> None:
    cache, extractor = FeatureCache(tmp_path), CountingExtractor()
    expected = cache.features(extractor, images)
    (entry,) = _entries(tmp_path, "features")
    content = bytearray(entry.read_bytes())
    if damage == "truncate":
        entry.write_bytes(bytes(content[: len(content) // 2]))
    elif damage == "flip":
        data_offset = content.index(b"\x93NUMPY") + 128  # inside the array's bytes
        content[data_offset] ^= 0x40
        entry.write_bytes(bytes(content))
    elif damage == "garbage":
        entry.write_bytes(b"not a cache file")
    else:
        _save_npz(entry, features=np.zeros((3, 2), np.float32))
    again = FeatureCache(tmp_path)
    recomputed = again.features(extractor, images)
    assert extractor.calls == 2 and again.stats.corrupt == 1
    assert np.array_equal(recomputed, expected)
    assert np.array_equal(FeatureCache(tmp_path).features(extractor, images), expected)
    assert extractor.calls == 2  # the rewritten entry is good


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_no_temporary_files_are_left(tmp_path, images) -> None:
    FeatureCache(tmp_path).features(CountingExtractor(), images)
    assert [p.suffix for p in (tmp_path / "features").iterdir()] == [".npz"]


def test_an_extractor_returning_the_wrong_shape_is_an_error(tmp_path, images) -> None:
    class Broken(CountingExtractor):
        def extract(self, x):
            return np.zeros((len(x), 3), np.float64), None

    with pytest.raises(ValueError, match=r"returned float64 \(5, 3\), expected float32 \(5, 2\)"):
        FeatureCache(tmp_path).features(Broken(), images)
    assert _entries(tmp_path, "features") == []


def test_arrays_are_cached_by_key_parts(tmp_path) -> None:
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"mu": np.arange(3.0), "sigma": np.eye(3), "file": np.array(["a", "bc"])}

    cache = FeatureCache(tmp_path)
    first = cache.arrays(["reference", "1", "abc"], compute)
    second = FeatureCache(tmp_path).arrays(["reference", "1", "abc"], compute)
    assert len(calls) == 1
    assert set(second) == {"mu", "sigma", "file"}
    for name in first:
        assert np.array_equal(first[name], second[name]) and first[name].dtype == second[name].dtype
    FeatureCache(tmp_path).arrays(["reference", "1", "abd"], compute)
    FeatureCache(tmp_path).arrays(["reference", "1a", "bc"], compute)  # no join ambiguity
    assert len(calls) == 3


def test_a_corrupt_arrays_entry_is_recomputed(tmp_path) -> None:
    cache = FeatureCache(tmp_path)
    cache.arrays(["x"], lambda: {"a": np.ones(4)})
    (entry,) = _entries(tmp_path, "arrays")
    entry.write_bytes(entry.read_bytes()[:-10])
    result = FeatureCache(tmp_path).arrays(["x"], lambda: {"a": np.full(4, 2.0)})
    assert result["a"].tolist() == [2.0] * 4


@pytest.mark.parametrize(
    ("key_parts", "arrays", "error", "message"),
    [
        ("reference", {"a": np.ones(1)}, TypeError, "key_parts must be a sequence of strings"),
        (["k", 3], {"a": np.ones(1)}, TypeError, "key_parts must be a sequence of strings"),
        (["k"], {"a": np.array([{}], dtype=object)}, TypeError, "has dtype object"),
        (["k"], {"../x": np.ones(1)}, ValueError, r"array name '\.\./x' must match"),
    ],
)
def test_arrays_reject_bad_input(tmp_path, key_parts, arrays, error, message) -> None:
    with pytest.raises(error, match=message):
        FeatureCache(tmp_path).arrays(key_parts, lambda: arrays)
