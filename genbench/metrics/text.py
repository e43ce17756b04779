"""Text sample metrics: diversity, repetition, generative perplexity, MAUVE.

Conventions (each metric's registered description repeats its own):

* Words are the whitespace-separated pieces of a sample (``str.split()``).
* distinct-n is corpus-level: distinct word n-grams over the whole sample
  set divided by all word n-grams in it (0 when there are none).
* self-BLEU: each sample is a hypothesis scored against all the *other*
  samples as references; sentence BLEU over words with uniform weights on
  1..4-gram clipped precisions, a zero precision smoothed to
  0.1 / max(1, count) (NLTK's ``method1``), brevity penalty against the
  closest reference length (shorter on ties), and 0 when no unigram matches
  -- NLTK's ``sentence_bleu`` exactly. The metric is the mean over samples.
* repetition rate: mean over samples of ``1 - distinct / total`` word
  4-grams within the sample (seq-rep-4, Welleck et al. 2020); samples with
  fewer than 4 words are left out.
* generative perplexity: ``exp(-sum log p / sum tokens)`` of the samples,
  each scored as a document from its start, under the task's reference
  model (an interpolated Kneser-Ney 5-gram fitted on the train split).
* MAUVE: :mod:`genbench.metrics.mauve` on all-MiniLM-L6-v2 embeddings,
  mean and standard deviation over 5 k-means seeds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch

from genbench.metrics.info import MetricInfo, register_metric
from genbench.metrics.kneser_ney import KneserNeyLM
from genbench.metrics.mauve import mauve

BLEU_ORDER = 4
BLEU_EPSILON = 0.1
REPETITION_ORDER = 4
DISTINCT_ORDERS: tuple[int, ...] = (1, 2, 3)


def _ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def _check_samples(samples: Sequence[str], minimum: int = 1) -> list[list[str]]:
    if isinstance(samples, str) or not all(isinstance(s, str) for s in samples):
        raise TypeError("text metrics take a list of str")
    if len(samples) < minimum:
        raise ValueError(f"need at least {minimum} samples, got {len(samples)}")
    return [s.split() for s in samples]


def distinct_n(samples: Sequence[str], n: int) -> float:
    """Corpus-level distinct-n over word n-grams (0 when there are none)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    grams = [g for words in _check_samples(samples) for g in _ngrams(words, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(samples: Sequence[str], n: int = REPETITION_ORDER) -> float:
    """Mean over samples of ``1 - distinct/total`` word n-grams within each
    sample; samples shorter than ``n`` words are left out (0 if all are)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rates = []
    for words in _check_samples(samples):
        grams = _ngrams(words, n)
        if grams:
            rates.append(1.0 - len(set(grams)) / len(grams))
    return float(np.mean(rates)) if rates else 0.0


def self_bleu(samples: Sequence[str], max_order: int = BLEU_ORDER) -> float:
    """Mean sentence BLEU of each sample against all the others (see the
    module docstring for smoothing and brevity penalty).

    Runs in time linear in the total number of n-grams: for every n-gram
    the two largest per-sample counts are kept, so "the largest count among
    the other samples" is the first unless the sample itself holds it.
    """
    tokenised = _check_samples(samples, minimum=2)
    counts = [[Counter(_ngrams(words, n)) for n in range(1, max_order + 1)] for words in tokenised]
    best: list[dict[tuple[str, ...], list]] = [{} for _ in range(max_order)]
    for i, per_order in enumerate(counts):
        for order, counter in enumerate(per_order):
            table = best[order]
            for gram, c in counter.items():
                top = table.setdefault(gram, [0, -1, 0])  # first, its owner, second
                if c > top[0]:
                    top[:] = [c, i, top[0]]
                elif c > top[2]:
                    top[2] = c
    lengths = np.array([len(words) for words in tokenised])
    scores = []
    for i, per_order in enumerate(counts):
        matches = []
        for order, counter in enumerate(per_order):
            matched = 0
            for gram, c in counter.items():
                first, owner, second = best[order][gram]
                matched += min(c, second if owner == i else first)
            matches.append((matched, max(1, sum(counter.values()))))
        if matches[0][0] == 0:  # no unigram in common: BLEU is 0 before smoothing
            scores.append(0.0)
            continue
        log_precision = sum(math.log((m or BLEU_EPSILON) / total) for m, total in matches)
        others = np.delete(lengths, i)
        distance = np.abs(others - lengths[i])
        closest = int(others[distance == distance.min()].min())
        penalty = 0.0 if lengths[i] > closest else 1.0 - closest / lengths[i]
        scores.append(math.exp(penalty + log_precision / max_order))
    return float(np.mean(scores))


def generative_perplexity(
    samples: Sequence[str], encode: Callable[[str], torch.Tensor], reference_lm: KneserNeyLM
) -> float:
    """``exp(-sum log p / sum tokens)`` of the samples under ``reference_lm``,
    each sample tokenised by ``encode`` and scored from its start."""
    _check_samples(samples)
    documents = [encode(s) for s in samples]
    tokens = sum(len(d) for d in documents)
    if tokens == 0:
        raise ValueError("generative perplexity needs at least one token")
    nats = sum(reference_lm.log_prob(d) for d in documents)
    return float(math.exp(-nats / tokens))


def text_sample_metrics(
    samples: Sequence[str],
    reference: Sequence[str],
    encode: Callable[[str], torch.Tensor],
    reference_lm: KneserNeyLM,
    embed: Callable[[Sequence[str]], np.ndarray],
) -> dict[str, float]:
    """Every text sample metric of ``samples``; MAUVE compares
    ``embed(reference)`` (real) with ``embed(samples)``."""
    result = {f"distinct_{n}": distinct_n(samples, n) for n in DISTINCT_ORDERS}
    result["self_bleu"] = self_bleu(samples)
    result["repetition_rate"] = repetition_rate(samples)
    result["generative_perplexity"] = generative_perplexity(samples, encode, reference_lm)
    spread = mauve(embed(list(reference)), embed(list(samples)))
    result["mauve_mean"] = spread.mean
    result["mauve_std"] = spread.std
    return result


_TEXT = ("text",)
for _info in (
    *(
        MetricInfo(
            f"distinct_{n}",
            "1",
            True,
            _TEXT,
            f"Corpus-level distinct-{n}: distinct word {n}-grams over all word {n}-grams "
            "of the whole sample set (words = whitespace split).",
            "sample",
        )
        for n in DISTINCT_ORDERS
    ),
    MetricInfo(
        "self_bleu",
        "1",
        False,
        _TEXT,
        "Mean sentence BLEU (words, uniform 1-4-gram weights, method1 smoothing 0.1) of "
        "each sample against all other samples as references; lower is more diverse.",
        "sample",
    ),
    MetricInfo(
        "repetition_rate",
        "1",
        False,
        _TEXT,
        "Mean over samples of 1 - distinct/total word 4-grams within a sample (seq-rep-4).",
        "sample",
    ),
    MetricInfo(
        "generative_perplexity",
        "per token",
        False,
        _TEXT,
        "exp(-sum log p / tokens) of the samples under the task's reference model: an "
        "interpolated Kneser-Ney 5-gram over the task's tokens fitted on its train split.",
        "sample",
    ),
    MetricInfo(
        "mauve_mean",
        "1",
        True,
        _TEXT,
        "MAUVE (PCA 90% variance, k-means with min(N,M)/10 clusters, c=5) between "
        "all-MiniLM-L6-v2 embeddings of reference snippets and samples; mean over 5 seeds.",
        "sample",
    ),
    MetricInfo(
        "mauve_std",
        "1",
        None,
        _TEXT,
        "Standard deviation (ddof 0) of MAUVE over the 5 k-means seeds behind mauve_mean.",
        "sample",
    ),
):
    register_metric(_info)
