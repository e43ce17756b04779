"""The identity feature extractor used by the toy tasks."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from genbench.features.identity import IdentityFeatures


def test_features_are_the_coordinates_as_float32_without_probabilities() -> None:
    x = torch.tensor([[1.5, -2.0], [0.25, 3.0]], dtype=torch.float32)
    features, probabilities = IdentityFeatures().extract(x)
    assert probabilities is None
    assert features.dtype == np.float32 and features.shape == (2, 2)
    assert features.tolist() == [[1.5, -2.0], [0.25, 3.0]]
    features[0, 0] = 9.0  # a copy: the input is untouched
    assert x[0, 0] == 1.5


def test_weights_hash_is_the_hash_of_the_definition() -> None:
    definition = {"dim": 2, "dtype": "float32", "extractor": "identity", "version": 1}
    expected = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
    assert IdentityFeatures(2).weights_sha256() == expected
    assert IdentityFeatures(3).weights_sha256() != expected
    assert IdentityFeatures(3).name == "identity-3d" and IdentityFeatures(3).dim == 3


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"identity-2d expects an N x 2 array, got \(3, 3\)"):
        IdentityFeatures().extract(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        IdentityFeatures(0)
