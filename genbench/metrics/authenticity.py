"""Authenticity (Alaa et al. 2022): the fraction of generated samples that are
not copies of training samples.

Definition. For a generated sample ``g`` let ``t`` be its nearest training
sample and ``ρ(t)`` the distance from ``t`` to its nearest *other* training
sample. ``g`` is *unauthentic* when it is closer to ``t`` than ``t`` is to
any other training sample, ``|g - t| < ρ(t)``; authenticity is the fraction
of generated samples that are authentic, ``A = (1/M) #{g : |g - t| >= ρ(t)}``.
Unit: fraction, in [0, 1].

Conventions:

* The training set is de-duplicated first (as
  :class:`genbench.metrics.memorisation.TrainingNeighbours` does), so
  ``ρ(t)`` is the distance to the nearest *distinct* training sample and
  always positive; an exact copy of a training sample is therefore always
  unauthentic. ``A`` equals ``1 - memorisation_fraction`` at threshold 1.
* Ties ``|g - t| = ρ(t)`` count as authentic ("not closer"); the authors'
  code counts them as unauthentic. They differ only on exact ties.
* Expected value for data that is not copied: a held-out sample from the
  training distribution is unauthentic exactly when it and its nearest
  training sample are mutual nearest neighbours, so ``A`` is 1 minus the
  fraction of points in reciprocal nearest-neighbour pairs: about 1/3 in one
  dimension, ``1 - 6π/(8π + 3√3) ≈ 0.379`` in two, tending to 1/2 as the
  dimension grows. Authenticity is not 1 for a perfect generator.
"""

from __future__ import annotations

import numpy as np

from genbench.metrics._checks import feature_matrix, same_dimension
from genbench.metrics._nearest import as_float64, nearest_rows
from genbench.metrics.memorisation import TrainingNeighbours


def authentic_from_distances(
    generated_to_train: np.ndarray, train_nearest_distance: np.ndarray
) -> np.ndarray:
    """Per generated sample: whether it is authentic, ``|g - t| >= ρ(t)``.

    Args:
        generated_to_train: ``(M,)`` distance of each generated sample to
            its nearest training sample ``t``.
        train_nearest_distance: ``(M,)`` ``ρ(t)`` for that same ``t``.
    """
    distance = np.asarray(generated_to_train, dtype=np.float64)
    rho = np.asarray(train_nearest_distance, dtype=np.float64)
    if distance.ndim != 1 or distance.shape != rho.shape:
        raise ValueError(
            "authenticity needs one distance and one training radius per generated sample, "
            f"got shapes {distance.shape} and {rho.shape}"
        )
    if distance.size == 0:
        raise ValueError("authenticity needs at least 1 generated sample (M), got M=0")
    return distance >= rho


def authentic_samples(
    training: TrainingNeighbours | np.ndarray,
    generated: np.ndarray,
    *,
    block_size: int | None = None,
) -> np.ndarray:
    """Per generated sample (``M x d``): whether it is authentic with respect
    to ``training`` (a prepared :class:`TrainingNeighbours`, or the raw
    training features, at least two distinct rows)."""
    if not isinstance(training, TrainingNeighbours):
        training = TrainingNeighbours.from_features(training, block_size=block_size)
    points = as_float64(feature_matrix(generated, "generated features"))
    same_dimension(points, training.features, ("generated features", "training features"))
    nearest, distance = nearest_rows(points, training.features, block_size=block_size)
    return authentic_from_distances(distance, training.nearest_distances[nearest])


def authenticity(
    training: TrainingNeighbours | np.ndarray,
    generated: np.ndarray,
    *,
    block_size: int | None = None,
) -> float:
    """The fraction of generated samples that are authentic (see the module
    docstring)."""
    return float(np.mean(authentic_samples(training, generated, block_size=block_size)))
