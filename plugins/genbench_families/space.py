"""The model space each family works in, and the way back to the task's format.

* Discrete tasks (``task.levels`` set, e.g. 8-bit images): integer level
  ``k`` of ``L`` maps to the bin centre ``2k/(L-1) - 1`` on ``[-1, 1]``.
* Audio tasks: mono waveforms held as their mu-law codes, channels first
  (:class:`MuLawSpace`); bits per dimension are then bits per audio sample.
* Continuous tasks (toy): each coordinate is standardised with the training
  mean and standard deviation; a log-density in model space becomes one in
  data space by adding :meth:`DataSpace.log_det` (the standardisation's
  log-Jacobian, ``-sum(log std)``).

The statistics are buffers, so they travel in the checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genbench.features.waveform import mulaw_encode
from genbench_families.distributions import to_bin_centres


class DataSpace(nn.Module):
    """Converts between a task's data format and model space.

    Args:
        shape: shape of one example, e.g. ``(1, 28, 28)`` or ``(2,)``.
        levels: discrete levels per dimension, or ``None`` for continuous data.
        level_dtype: integer dtype of decoded discrete examples.
    """

    def __init__(
        self, shape: tuple[int, ...], levels: int | None, level_dtype: torch.dtype = torch.uint8
    ) -> None:
        super().__init__()
        if levels is not None and levels < 2:
            raise ValueError(f"a discrete task needs at least 2 levels, got {levels}")
        self.shape = tuple(shape)
        self.levels = levels
        self.level_dtype = level_dtype
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    @property
    def discrete(self) -> bool:
        """Whether examples are integer levels (else continuous coordinates)."""
        return self.levels is not None

    @property
    def dims(self) -> int:
        """Number of dimensions of one example."""
        return int(torch.Size(self.shape).numel())

    def fit_statistics(self, x: Tensor) -> None:
        """Set the standardisation from training data (continuous tasks only)."""
        if self.discrete:
            return
        data = x.to(torch.float64)
        self.mean.copy_(data.mean(0).float())
        self.std.copy_(data.std(0).clamp(min=1e-6).float())

    def encode(self, x: Tensor) -> Tensor:
        """Task format → float32 model space (see the module docstring)."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expected examples of shape {self.shape}, got {tuple(x.shape[1:])}")
        if self.discrete:
            return x.to(torch.float32) * (2.0 / (self.levels - 1)) - 1.0
        return (x.to(torch.float32) - self.mean) / self.std

    def decode(self, y: Tensor) -> Tensor:
        """Model space → task format: levels as ``level_dtype`` (rounded to the
        nearest bin, clamped) or de-standardised ``float32`` coordinates."""
        if self.discrete:
            k = torch.round((to_bin_centres(y, self.levels) + 1) * (self.levels - 1) / 2)
            return k.to(self.level_dtype)
        return (y * self.std + self.mean).to(torch.float32)

    def log_det(self) -> float:
        """Log-Jacobian of model space → data space for densities; 0 when discrete."""
        if self.discrete:
            return 0.0
        return float(-torch.log(self.std.double()).sum())


class MuLawSpace(DataSpace):
    """The model space of audio tasks: mono waveforms as 8-bit mu-law codes.

    Task format: ``float32`` waveforms ``N x T`` in ``[-1, 1]`` (training
    data, ``reconstruct`` inputs, samples) or their mu-law codes, integers
    ``N x T`` in ``[0, levels - 1]`` (``log_likelihood`` inputs). Model
    space: ``N x 1 x T`` (channels first), code ``k`` at the bin centre
    ``2k/(levels - 1) - 1`` — the companded waveform on the code grid — so
    the families' discrete likelihoods are log-probabilities of the codes
    and bits per dimension are bits per audio sample.

    :meth:`decode` expands companded values back to waveforms without
    re-quantising them: bin centres give exactly the task's decoded codes,
    and continuous outputs (GAN, diffusion) keep their resolution.

    Args:
        length: samples per waveform ``T``.
        levels: mu-law codes (``mu = levels - 1``).
    """

    def __init__(self, length: int, levels: int) -> None:
        super().__init__((1, length), levels)
        self.length = length

    def encode(self, x: Tensor) -> Tensor:
        """Waveforms or codes ``N x T`` → model-space ``N x 1 x T``.

        Raises:
            ValueError: a wrong shape, a waveform outside ``[-1, 1]``, or
                codes outside ``[0, levels - 1]``.
        """
        if tuple(x.shape[1:]) != (self.length,):
            raise ValueError(
                f"expected waveforms of shape ({self.length},), got {tuple(x.shape[1:])}"
            )
        if torch.is_floating_point(x):
            codes = mulaw_encode(x, self.levels)
        else:
            codes = x.to(torch.int64)
            if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.levels):
                raise ValueError(
                    f"mu-law codes must lie in [0, {self.levels - 1}], "
                    f"got [{int(codes.min())}, {int(codes.max())}]"
                )
        return (codes.to(torch.float32) * (2.0 / (self.levels - 1)) - 1.0).unsqueeze(1)

    def decode(self, y: Tensor) -> Tensor:
        """Model-space ``N x 1 x T`` → ``float32`` waveforms ``N x T``: the
        inverse companding ``sign(y)((1 + mu)^|y| - 1)/mu`` of ``y`` clamped
        to ``[-1, 1]``."""
        mu = self.levels - 1
        companded = y.reshape(len(y), self.length).to(torch.float64).clamp(-1.0, 1.0)
        waveform = torch.sign(companded) * torch.expm1(companded.abs() * math.log1p(mu)) / mu
        return waveform.to(torch.float32)


def data_space(shape: tuple[int, ...], levels: int | None, modality: str) -> DataSpace:
    """The model space of a task with examples of ``shape``: :class:`MuLawSpace`
    for audio, :class:`~genbench_families.space.DataSpace` otherwise.

    Raises:
        ValueError: audio examples that are not mono waveforms ``(T,)`` with levels.
    """
    if modality != "audio":
        return DataSpace(shape, levels)
    if len(shape) != 1 or levels is None:
        raise ValueError(
            f"audio models need mono waveforms of shape (T,) with mu-law levels, "
            f"got shape {shape} and levels {levels}"
        )
    return MuLawSpace(shape[0], levels)
