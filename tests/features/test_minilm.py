"""all-MiniLM-L6-v2 features: reference values, hash, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.features.minilm import MiniLMFeatures

TEXTS = ["hello world", "the cat sat on the mat", "def f(x):\n    return x"]

# first five dimensions from sentence-transformers' encode() of the same
# bundled model (mean pooling + L2 normalisation)
REFERENCE = np.array(
    [
        [-0.03447727, 0.03102320, 0.00673498, 0.02610899, -0.03936202],
        [0.13040183, -0.01187012, -0.02811702, 0.05123865, -0.05597445],
    ]
)
UPSTREAM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@pytest.fixture(scope="module")
def extractor() -> MiniLMFeatures:
    loaded = MiniLMFeatures(batch_size=2)
    loaded._load()
    return loaded


def sharing(extractor: MiniLMFeatures, **kwargs) -> MiniLMFeatures:
    """Another extractor reusing the loaded encoder (loading takes seconds)."""
    other = MiniLMFeatures(**kwargs)
    other._tokenizer, other._model = extractor._tokenizer, extractor._model
    return other


def test_embeddings_match_sentence_transformers(extractor):
    features, probabilities = extractor.extract(TEXTS)
    assert probabilities is None
    assert features.shape == (3, 384) and features.dtype == np.float32
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-6)
    assert np.allclose(features[:2, :5], REFERENCE, atol=1e-6)


def test_weights_hash_is_the_upstream_file(extractor):
    assert extractor.weights_sha256() == UPSTREAM_SHA256


def test_batch_size_independent_and_memoised(extractor):
    one_by_one = sharing(extractor, batch_size=1)
    assert np.abs(one_by_one.extract(TEXTS)[0] - extractor.extract(TEXTS)[0]).max() < 1e-5
    first, _ = extractor.extract(TEXTS)
    first[:] = 0  # callers get copies: the memo cannot be corrupted
    assert np.abs(extractor.extract(TEXTS)[0]).sum() > 0


def test_token_ids_are_decoded_first(extractor):
    symbols = sorted(set("hello world"))
    decode = lambda ids: "".join(symbols[i] for i in ids)  # noqa: E731
    ids = torch.tensor([symbols.index(c) for c in "hello world"])
    plain = sharing(extractor)
    with_decode = sharing(extractor, decode=decode)
    assert np.allclose(with_decode.extract([ids])[0], with_decode.extract(["hello world"])[0])
    with pytest.raises(TypeError, match="got Tensor"):
        plain.extract([ids])
    with pytest.raises(TypeError, match="not one str"):
        plain.extract("hello")


def test_configuration_errors(tmp_path):
    with pytest.raises(ValueError, match="batch_size must be positive"):
        MiniLMFeatures(batch_size=0)
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        MiniLMFeatures(model_dir=tmp_path)
