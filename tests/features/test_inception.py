"""Inception plumbing, tested with a randomly initialised network of the
same layout as the FID weights (no real weights are available offline)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception

from genbench.features.inception import (
    WEIGHTS_ENV_VAR,
    InceptionFeatures,
    InceptionWeightsError,
)


class _RandomInception(fidelity_inception.FeatureExtractorInceptionV3):
    """torch-fidelity's network keeping its random initialisation."""

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return None


def _no_download(*args, **kwargs):
    raise AssertionError("attempted to download Inception weights")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """A state dict with the layout of the FID weights, random values, and
    batch-norm statistics set from one batch so activations stay O(1)."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(fidelity_inception, "load_state_dict_from_url", lambda *a, **k: {})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = _RandomInception("random", ["2048"])
        calibration = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    monkeypatch.undo()
    network.train()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # running statistics = this batch's statistics
            module.reset_running_stats()
    with torch.no_grad():
        network(calibration)
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(fidelity_inception, "load_state_dict_from_url", _no_download)


def _images(n: int, channels: int = 1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, 12, 12), dtype=torch.uint8, generator=generator)


def test_features_shapes_determinism_and_batch_independence(
    weights_file, offline, monkeypatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(weights_file))
    images = _images(2)
    extractor = InceptionFeatures(batch_size=2)
    features, probabilities = extractor.extract(images)
    assert features.shape == (2, 2048) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std() > 1e-3
    assert not np.allclose(features[0], features[1], atol=1e-3)
    assert probabilities.shape == (2, 1008) and probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    # grayscale is the same image repeated on three channels
    rgb, _ = extractor.extract(images.repeat(1, 3, 1, 1))
    np.testing.assert_allclose(rgb, features, atol=1e-6, rtol=0)
    one_by_one, one_by_one_probabilities = InceptionFeatures(weights_file, batch_size=1).extract(
        images
    )
    np.testing.assert_allclose(one_by_one, features, atol=1e-5, rtol=0)
    np.testing.assert_allclose(one_by_one_probabilities, probabilities, atol=1e-5, rtol=0)


def test_weights_hash_is_the_file_hash(weights_file) -> None:
    expected = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert InceptionFeatures(weights_file).weights_sha256() == expected


def test_low_level_images_are_rescaled_to_8_bit(weights_file) -> None:
    extractor = InceptionFeatures(weights_file, levels=17)
    assert extractor.name == "inception-v3-fid-17levels"
    assert InceptionFeatures(weights_file).name == "inception-v3-fid"
    images = torch.tensor([0, 1, 8, 16], dtype=torch.uint8).reshape(1, 1, 2, 2)
    rescaled = extractor._as_rgb_uint8(images)
    assert rescaled.shape == (1, 3, 2, 2)
    assert rescaled[0, 0].flatten().tolist() == [0, 16, 128, 255]  # round(v * 255 / 16)
    with pytest.raises(ValueError, match=r"values in \[0, 16\], found 17"):
        extractor.extract(torch.full((1, 1, 2, 2), 17, dtype=torch.uint8))


def test_no_weights_configured_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV_VAR, raising=False)
    with pytest.raises(InceptionWeightsError, match=f"set {WEIGHTS_ENV_VAR}=/path"):
        InceptionFeatures()


def test_missing_file_is_reported(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(tmp_path / "absent.pth"))
    with pytest.raises(InceptionWeightsError, match=rf"absent\.pth \(from {WEIGHTS_ENV_VAR}\)"):
        InceptionFeatures()
    with pytest.raises(InceptionWeightsError, match=r"other\.pth \(from weights_path\)"):
        InceptionFeatures(tmp_path / "other.pth")


class _Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_a_file_that_runs_code_is_never_unpickled(tmp_path, offline) -> None:
    path, sentinel = tmp_path / "evil.pth", tmp_path / "pwned"
    torch.save({"fc.weight": _Payload(sentinel)}, path)
    with pytest.raises(ValueError, match="refusing to unpickle it"):
        InceptionFeatures(path).extract(_images(1))
    assert not sentinel.exists()


def test_a_state_dict_of_another_layout_is_rejected(tmp_path, offline) -> None:
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ValueError, match="does not have the layout of torch-fidelity's Inception"):
        InceptionFeatures(path).extract(_images(1))


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (torch.zeros((1, 1, 8, 8)), TypeError, "expects a torch.uint8 image tensor"),
        (torch.zeros((1, 2, 8, 8), dtype=torch.uint8), ValueError, r"C in \(1, 3\)"),
    ],
)
def test_bad_images_are_rejected(weights_file, images, error, message) -> None:
    with pytest.raises(error, match=message):
        InceptionFeatures(weights_file).extract(images)
