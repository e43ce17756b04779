"""genbench's text models: an interpolated Kneser-Ney n-gram and a small
decoder-only Transformer, each under every decoding strategy (greedy, pure
sampling, temperature, top-k, nucleus, beam search, and speculative sampling
with the n-gram drafting for the Transformer).

This package is an ordinary plugin, registered through the ``genbench``
entry-point group exactly as a third-party plugin is.
"""

from genbench_text.plugin import (
    fit,
    log_likelihood,
    model_info,
    register_metrics,
    register_models,
    sample,
)

__all__ = ["fit", "log_likelihood", "model_info", "register_metrics", "register_models", "sample"]
