"""genbench's baseline models: reference points every leaderboard needs.

* ``data`` — held-out real data: the metrics' noise floor at this sample count.
* ``memorizer`` — returns training examples: excellent FID, and exactly what
  the memorisation metric must flag.
* ``gaussian`` — a full-covariance Gaussian fitted to the training data,
  discretised per dimension so its likelihood of 8-bit data is exact.
* ``uniform`` — every value equally likely: log2(levels) bits per dimension.

This package is an ordinary plugin, registered through the ``genbench``
entry-point group exactly as a third-party plugin is.
"""

from genbench_baselines.plugin import fit, log_likelihood, model_info, register_models, sample

__all__ = ["fit", "log_likelihood", "model_info", "register_models", "sample"]
