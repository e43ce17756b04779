"""Feature extractors on a device: on the CPU they compute exactly what they
did before devices existed, and features or prepared references computed
elsewhere never share a cache entry with CPU ones."""

from __future__ import annotations

import numpy as np
import torch

from genbench.features.cache import FeatureCache
from genbench.features.classifier import ClassifierFeatures
from genbench.features.identity import IdentityFeatures


def test_an_extractor_moved_to_the_cpu_gives_the_same_bits():
    images = torch.randint(0, 256, (20, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    images = images.to(torch.uint8)
    features, probabilities = ClassifierFeatures("mnist").extract(images)
    moved = ClassifierFeatures("mnist").to("cpu")
    assert moved.device == torch.device("cpu")
    again, again_probabilities = moved.extract(images)
    assert np.array_equal(features, again) and np.array_equal(probabilities, again_probabilities)


def test_extractors_without_a_network_stay_on_the_cpu():
    extractor = IdentityFeatures(2)
    assert extractor.to("cuda:0") is extractor and extractor.device == torch.device("cpu")


def test_features_from_another_device_are_cached_apart(tmp_path):
    cache = FeatureCache(tmp_path)
    x = np.zeros((4, 2), np.float32)
    cpu, elsewhere = IdentityFeatures(2), IdentityFeatures(2)
    elsewhere.device = torch.device("meta")  # any device that is not the CPU
    assert cache.features_key(cpu, x) != cache.features_key(elsewhere, x)
    assert cache.features_key(cpu, x) == cache.features_key(IdentityFeatures(2), x)
