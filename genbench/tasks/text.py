"""Character- and byte-level text tasks.

Data format (see :mod:`genbench.hookspecs`): documents are
``torch.LongTensor`` token ids in the task's :class:`TextVocabulary`;
samples are ``list[str]``.

Generation protocol shared by every text model: a sample is the continuation
of a ``prompt_tokens``-token prompt taken from a training document, exactly
``sample_tokens`` tokens long, prompt excluded. Real text enters the sample
metrics cut the same way, as snippets of ``sample_tokens`` tokens that each
follow at least ``prompt_tokens`` tokens of their document
(:meth:`TextTask.snippets`):

- the reference: one snippet per non-overlapping window of
  ``prompt_tokens + sample_tokens`` test tokens;
- the training side of memorisation, authenticity and the data-copying test
  (and the ``memorizer`` baseline's pool): consecutive snippets of the
  training documents;
- the ``data`` baseline's pool: consecutive snippets of the held-out
  (validation) documents.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from genbench.metrics.uncertainty import Interval
from genbench.tasks.base import Task, TaskData
from genbench.tasks.preview import save_text_snippets
from genbench.tasks.splits import split_by_shared_passages
from genbench.tasks.text_formats import (
    ENWIK8_SPLITS,
    CorpusSplits,
    read_enwik8,
    read_text8,
    read_tiny_shakespeare,
    read_wikitext,
)
from genbench.tasks.validation import SampleValidationError, validate_text_samples

if TYPE_CHECKING:
    from genbench.features.minilm import MiniLMFeatures
    from genbench.metrics.kneser_ney import KneserNeyLM

UNITS: tuple[str, ...] = ("char", "byte")

TASK_SEED = 0
"""Seeds the (fixed) document split and the order of the reference snippets."""


class TextVocabulary:
    """Maps text to token ids and back.

    ``unit="char"``: one id per Unicode character, ids in the order of
    ``symbols`` (sorted). ``unit="byte"``: one id per UTF-8 byte, 256 ids.

    Args:
        unit: ``"char"`` or ``"byte"``.
        symbols: the characters of a ``char`` vocabulary; ignored for bytes.
    """

    def __init__(self, unit: str, symbols: Sequence[str] = ()) -> None:
        if unit not in UNITS:
            raise ValueError(f"token unit must be one of {list(UNITS)}, got {unit!r}")
        self.unit = unit
        if unit == "char":
            symbols = list(symbols)
            if not symbols:
                raise ValueError("a char vocabulary needs at least one symbol")
            if any(len(s) != 1 for s in symbols) or len(set(symbols)) != len(symbols):
                raise ValueError("char vocabulary symbols must be distinct single characters")
            self.symbols: tuple[str, ...] = tuple(symbols)
            self._index = {s: i for i, s in enumerate(self.symbols)}
        else:
            self.symbols = ()
            self._index = {}

    @classmethod
    def from_documents(cls, unit: str, documents: Sequence[str | bytes]) -> TextVocabulary:
        """The vocabulary of ``documents``: every character they use (sorted)
        for ``char``, all 256 byte values for ``byte``."""
        if unit == "byte":
            return cls("byte")
        return cls(unit, sorted(set().union(*(set(d) for d in documents))))

    @property
    def size(self) -> int:
        """Number of token ids."""
        return 256 if self.unit == "byte" else len(self.symbols)

    def encode(self, text: str | bytes) -> torch.Tensor:
        """Token ids (``int64``, 1-D) of ``text``.

        Raises:
            ValueError: a character is not in a ``char`` vocabulary, or bytes
                were given to a ``char`` vocabulary.
        """
        if self.unit == "byte":
            raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            return torch.tensor(list(raw), dtype=torch.int64)
        if not isinstance(text, str):
            raise ValueError("a char vocabulary encodes str, not bytes")
        try:
            return torch.tensor([self._index[c] for c in text], dtype=torch.int64)
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Text of ``ids``; bytes that do not form valid UTF-8 (a window cut
        inside a character, a byte model's stray byte) are dropped, so the
        text never re-encodes to more bytes than ``ids``."""
        values = [int(i) for i in ids]
        if any(v < 0 or v >= self.size for v in values):
            raise ValueError(f"token ids must lie in [0, {self.size}), got {values}")
        if self.unit == "byte":
            return bytes(values).decode("utf-8", errors="ignore")
        return "".join(self.symbols[v] for v in values)

    def unit_counts(self, ids: torch.Tensor) -> tuple[int, int, int]:
        """``(characters, bytes, words)`` of one document given as ids.

        Words are the whitespace-separated pieces of the decoded document
        (lm-evaluation-harness's word count). For byte documents, characters
        are the bytes that do not continue a UTF-8 sequence.
        """
        if self.unit == "byte":
            values = np.asarray(ids, dtype=np.int64)
            chars = int(np.count_nonzero((values & 0xC0) != 0x80))
            return chars, int(values.size), len(self.decode(ids).split())
        text = self.decode(ids)
        return len(text), len(text.encode("utf-8")), len(text.split())


class TextTask(Task):
    """A text corpus split by document, with the text metrics.

    Subclasses implement :meth:`_corpus`. The vocabulary covers every
    character of the whole corpus, validation included (the char-level
    literature's convention), so every held-out document can be scored
    exactly.

    Attributes:
        unit: token unit, ``"char"`` or ``"byte"``.
        sample_tokens: tokens per generated sample (prompt excluded).
        prompt_tokens: tokens of training text each sample continues.
    """

    modality: ClassVar[str] = "text"
    unit: ClassVar[str] = "char"
    sample_tokens: ClassVar[int] = 128
    prompt_tokens: ClassVar[int] = 32
    eval_samples = MappingProxyType({"smoke": 48, "default": 500, "full": 2000})
    likelihood_examples = MappingProxyType({"smoke": 2, "default": 100_000, "full": 100_000})

    def __init__(self) -> None:
        super().__init__()
        self._vocabulary: TextVocabulary | None = None
        self._training_snippets: list[str] | None = None
        self._extractor: MiniLMFeatures | None = None
        self._reference_lm: KneserNeyLM | None = None

    @abstractmethod
    def _corpus(self) -> CorpusSplits:
        """Raw train and test documents; never downloads."""

    def _load(self) -> TaskData:
        corpus = self._corpus()
        vocabulary = TextVocabulary.from_documents(
            self.unit, corpus.train + corpus.test + corpus.validation
        )
        self._vocabulary = vocabulary
        return TaskData(
            train=[vocabulary.encode(d) for d in corpus.train],
            test=[vocabulary.encode(d) for d in corpus.test],
            holdout=[vocabulary.encode(d) for d in corpus.validation] or None,
        )

    @property
    def vocabulary(self) -> TextVocabulary:
        """The task's tokeniser (loads the corpus on first use)."""
        self.load()
        assert self._vocabulary is not None
        return self._vocabulary

    @property
    def validation(self) -> list[torch.Tensor]:
        """Validation documents (ids), the task's holdout split: in neither
        train nor test; empty when the corpus has no validation split."""
        return self.load().holdout or []

    # -- real text in the sample format ----------------------------------------

    def snippets(self, documents: Sequence[torch.Tensor], stride: int) -> list[str]:
        """The decoded ``sample_tokens``-token pieces of ``documents`` that
        start at tokens ``prompt_tokens``, ``prompt_tokens + stride``, ... of
        each document (so each follows at least a prompt's worth of its
        document, as a sample follows its prompt), in document order; a
        document shorter than ``prompt_tokens + sample_tokens`` gives none.

        Raises:
            ValueError: ``stride`` is not positive.
        """
        if stride < 1:
            raise ValueError(f"the snippet stride must be a positive token count, got {stride}")
        return [
            self.vocabulary.decode(doc[start : start + self.sample_tokens])
            for doc in documents
            for start in range(self.prompt_tokens, len(doc) - self.sample_tokens + 1, stride)
        ]

    def reference_snippets(self) -> list[str]:
        """All reference snippets in a fixed shuffled order: the last
        ``sample_tokens`` tokens of each non-overlapping window of
        ``prompt_tokens + sample_tokens`` tokens in the test documents."""
        window = self.prompt_tokens + self.sample_tokens
        snippets = self.snippets(self.load().test, stride=window)
        order = np.random.default_rng(TASK_SEED).permutation(len(snippets))
        return [snippets[i] for i in order]

    def training_samples(self) -> list[str]:
        """Consecutive, non-overlapping training snippets
        (:meth:`snippets` with stride ``sample_tokens``): any
        ``sample_tokens``-token span of a training document shares at least
        half its tokens with one of them. Cut once per task object."""
        if self._training_snippets is None:
            self._training_snippets = self.snippets(self.load().train, self.sample_tokens)
        return self._training_snippets

    def holdout_samples(self) -> list[str] | None:
        """Consecutive, non-overlapping snippets of the held-out (validation)
        documents, or ``None`` when the corpus has none."""
        holdout = self.load().holdout
        return None if holdout is None else self.snippets(holdout, self.sample_tokens)

    def reference(self, budget: str) -> list[str]:
        """The first ``eval_samples[budget]`` reference snippets."""
        return self.reference_snippets()[: self.eval_samples[budget]]

    def likelihood_batch(self, budget: str) -> list[torch.Tensor]:
        """The first ``likelihood_examples[budget]`` test documents (ids)."""
        return list(self.load().test[: self.likelihood_examples[budget]])

    def shifted_likelihood_batches(self, budget: str) -> dict[str, list[torch.Tensor]]:
        """``shuffled``: each likelihood document with its tokens in a random
        order (the same characters, bytes and length, so the same unigram
        statistics; any model of context tells it apart)."""
        rng = self.shift_rng("shuffled")
        return {
            "shuffled": [
                doc[torch.from_numpy(rng.permutation(len(doc)))]
                for doc in self.likelihood_batch(budget)
            ]
        }

    def dimension_counts(self, x: Sequence[torch.Tensor]) -> dict[str, np.ndarray]:
        """Per-document ``char``, ``byte`` and ``word`` counts of ``x``."""
        counts = np.array([self.vocabulary.unit_counts(doc) for doc in x], dtype=np.int64)
        counts = counts.reshape(len(x), 3)
        return {"char": counts[:, 0], "byte": counts[:, 1], "word": counts[:, 2]}

    # -- samples ----------------------------------------------------------------

    def validate_samples(self, x: Any, n: int) -> list[str]:
        """``x`` must be a list of ``n`` non-empty strings without NUL, each
        at most ``sample_tokens`` tokens in the task's vocabulary."""
        validate_text_samples(x, n)
        for i, text in enumerate(x):
            try:
                length = len(self.vocabulary.encode(text))
            except ValueError as error:
                raise SampleValidationError(f"text sample {i}: {error}") from None
            if length > self.sample_tokens:
                raise SampleValidationError(
                    f"text sample {i} has {length} tokens, more than the task's "
                    f"{self.sample_tokens}"
                )
        return x

    def save_preview(self, samples: Any, path: Path) -> Path:
        """Write the first samples as quoted-snippet text at ``<path>.txt``
        (see :func:`~genbench.tasks.preview.save_text_snippets`)."""
        return save_text_snippets(samples, path)

    def extra_metric_intervals(self, samples: Any) -> dict[str, Interval]:
        """None: MAUVE's k-means and the corpus-level n-gram statistics cost
        too much to recompute per bootstrap resample; MAUVE reports its
        spread over k-means seeds instead (``mauve_std``)."""
        return {}

    def feature_extractor(self) -> MiniLMFeatures:
        """all-MiniLM-L6-v2 sentence embeddings (one instance per task, so
        features of the same texts are computed once)."""
        if self._extractor is None:
            from genbench.features.minilm import MiniLMFeatures

            self._extractor = MiniLMFeatures(decode=self.vocabulary.decode)
        return self._extractor

    def reference_lm(self) -> KneserNeyLM:
        """The fixed model that scores samples for generative perplexity:
        an interpolated Kneser-Ney 5-gram over the task's tokens, fitted on
        the train split."""
        if self._reference_lm is None:
            from genbench.metrics.kneser_ney import KneserNeyLM

            self._reference_lm = KneserNeyLM.fit(
                self.load().train, vocab_size=self.vocabulary.size, order=5
            )
        return self._reference_lm

    def extra_metrics(self, samples: list[str]) -> dict[str, float]:
        """Text metrics of ``samples`` (see :mod:`genbench.metrics.text`),
        MAUVE against the first ``len(samples)`` reference snippets."""
        from genbench.metrics.text import text_sample_metrics

        reference = self.reference_snippets()[: len(samples)]
        return text_sample_metrics(
            samples,
            reference,
            encode=self.vocabulary.encode,
            reference_lm=self.reference_lm(),
            embed=lambda texts: self.feature_extractor().extract(texts)[0],
        )


class PydocTask(TextTask):
    """Python's bundled language-reference help topics, character level.

    ``pydoc_data.topics`` ships with every CPython (79 topics, about 465k
    characters of English technical prose with code). Topics are the
    documents. Many topics repeat whole paragraphs of others (``compound``
    contains ``if``, ``while``...), so topics that share a paragraph of 80+
    characters form a group and a group is never split: the test split is
    whole groups, drawn in a seeded order until it holds 20 % of the
    characters; the holdout (validation) split is the groups drawn next,
    until it holds 15 % (whole groups take it to 19.8 %, 708 held-out
    snippets, enough for the ``data`` baseline's 500 at ``default``). Groups
    larger than a quarter of the corpus stay in train, which keeps 60 %.
    """

    name = "text/pydoc"
    description = "Python help topics (pydoc_data), character level, split by topic group"
    test_fraction: ClassVar[float] = 0.2
    holdout_fraction: ClassVar[float] = 0.15

    def _corpus(self) -> CorpusSplits:
        from pydoc_data.topics import topics

        documents = [topics[k] for k in sorted(topics)]
        train, test, holdout = split_by_shared_passages(
            documents,
            min_chars=80,
            separator=r"\n\s*\n",
            fractions=(self.test_fraction, self.holdout_fraction),
            seed=TASK_SEED,
        )
        return CorpusSplits(
            train=[documents[i] for i in train],
            test=[documents[i] for i in test],
            validation=[documents[i] for i in holdout],
        )


class CorpusFileTask(TextTask):
    """A corpus the user has on disk, read by one of
    :mod:`genbench.tasks.text_formats`' readers.

    Args:
        name: short task name; the task is ``text/<name>``.
        read: returns the corpus's :class:`CorpusSplits` (called once).
        unit: token unit, ``"char"`` or ``"byte"``.
        description: one line for tables.
    """

    def __init__(
        self,
        name: str,
        read: Callable[[], CorpusSplits],
        unit: str = "char",
        description: str = "",
    ) -> None:
        if unit not in UNITS:
            raise ValueError(f"token unit must be one of {list(UNITS)}, got {unit!r}")
        self.name = f"text/{name}"
        self.unit = unit
        self.description = description
        self._read = read
        super().__init__()

    def _corpus(self) -> CorpusSplits:
        return self._read()


class TinyShakespeareTask(CorpusFileTask):
    """tiny-shakespeare's ``input.txt`` (character level, 90/10 contiguous
    split at a speech boundary)."""

    def __init__(self, path: str | Path, name: str = "tiny-shakespeare") -> None:
        super().__init__(
            name,
            partial(read_tiny_shakespeare, path),
            "char",
            "tiny-shakespeare, character level, first 90% train / last 10% test",
        )


class Enwik8Task(CorpusFileTask):
    """enwik8 at byte level, first 90M / next 5M (unused) / next 5M bytes."""

    def __init__(
        self,
        path: str | Path,
        name: str = "enwik8",
        splits: tuple[int, int, int] = ENWIK8_SPLITS,
    ) -> None:
        super().__init__(
            name,
            partial(read_enwik8, path, splits),
            "byte",
            "enwik8, byte level, 90M/5M/5M split",
        )


class Text8Task(CorpusFileTask):
    """text8 at character level, first 90M / next 5M (unused) / next 5M."""

    def __init__(
        self,
        path: str | Path,
        name: str = "text8",
        splits: tuple[int, int, int] = ENWIK8_SPLITS,
    ) -> None:
        super().__init__(
            name,
            partial(read_text8, path, splits),
            "char",
            "text8, character level, 90M/5M/5M split",
        )


class WikiTextTask(CorpusFileTask):
    """A raw wikitext directory (wikitext-2-raw or -103-raw), articles as
    documents, official train/test files."""

    def __init__(self, root: str | Path, name: str = "wikitext", unit: str = "char") -> None:
        super().__init__(
            name,
            partial(read_wikitext, root),
            unit,
            f"wikitext raw, {unit} level, articles as documents",
        )
