"""Smaller findings: name length, the all-exact likelihood observation, the
32-bit seed helper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import genbench
from genbench.report.observations import _best_likelihood
from genbench.specs import MAX_NAME_LENGTH, ModelSpec, validate_name


def test_names_have_a_length_limit():
    assert validate_name("m" * MAX_NAME_LENGTH, "model")
    with pytest.raises(ValueError, match="301 characters long; the limit is 100"):
        ModelSpec(name="m" * 301, family="x", modalities=("toy",))


def test_an_all_exact_likelihood_column_is_called_exact():
    summary = pd.DataFrame(
        {
            "model": ["a", "b"],
            "family": ["f", "f"],
            "bits_per_dim": [1.0, 2.0],
            "likelihood_exact": np.array([True, True]),  # an all-boolean column: numpy.bool_
        }
    )
    assert isinstance(summary.loc[0, "likelihood_exact"], np.bool_)
    (line,) = _best_likelihood(summary)
    assert "(exact)" in line
    bound = summary.assign(likelihood_exact=np.array([False, True]))
    assert "(an upper bound)" in _best_likelihood(bound)[0]


def test_seed32_fits_libraries_that_want_32_bit_seeds():
    seed = 2**63 - 5
    assert genbench.seed32(seed) == seed % 2**32
    assert 0 <= genbench.seed32(seed) < 2**32
