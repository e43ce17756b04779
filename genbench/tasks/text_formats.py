"""Readers for text corpora in their standard on-disk formats.

Each reader returns a :class:`CorpusSplits` of whole documents, split the way
the corpus's literature splits it; none of them downloads anything. A
document is a ``str`` for character-level corpora and ``bytes`` for
byte-level ones (enwik8), so a split never has to decode a byte stream cut in
the middle of a UTF-8 sequence.

* tiny-shakespeare: one ``input.txt``; documents are the blank-line separated
  speeches; the first 90 % of the characters train, the rest test (the
  contiguous split of the char-level Shakespeare baselines), cut at a speech
  boundary.
* enwik8 / text8: one file; the first 90M units train, the next 5M validate
  (not used here), the next 5M test. Each part is cut into fixed-size
  documents (context resets at their boundaries when scored).
* wikitext (raw): ``wiki.train.raw`` and ``wiki.test.raw``; documents are the
  articles, which start at a top-level heading line `` = Title = ``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ENWIK8_SPLITS: tuple[int, int, int] = (90_000_000, 5_000_000, 5_000_000)
"""Train, validation and test sizes (bytes for enwik8, characters for text8)."""

STREAM_DOCUMENT_SIZE = 1_000_000
"""Units per document when a single-stream corpus (enwik8, text8) is cut up."""

_WIKITEXT_ARTICLE = re.compile(r"^ = [^=].* = $")


@dataclass(frozen=True)
class CorpusSplits:
    """Whole documents of a corpus, split into train, test and (optionally)
    validation.

    Attributes:
        train: training documents (``str``, or ``bytes`` for byte corpora).
        test: test documents, same type as ``train``.
        validation: documents in neither, for model selection (may be empty).
    """

    train: list
    test: list
    validation: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.train or not self.test:
            raise ValueError(
                f"a corpus needs at least one train and one test document, got "
                f"{len(self.train)} train and {len(self.test)} test"
            )


def read_tiny_shakespeare(path: str | Path, test_fraction: float = 0.1) -> CorpusSplits:
    """Read tiny-shakespeare's ``input.txt``.

    Speeches (blocks separated by blank lines) are documents. Train is the
    longest prefix of speeches holding at most ``1 - test_fraction`` of the
    characters; test is the remaining speeches.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    text = _read_text(path)
    speeches = [block.strip("\n") for block in re.split(r"\n\s*\n", text)]
    speeches = [s for s in speeches if s.strip()]
    total = sum(len(s) for s in speeches)
    cut, seen = 0, 0
    while cut < len(speeches) and seen + len(speeches[cut]) <= (1.0 - test_fraction) * total:
        seen += len(speeches[cut])
        cut += 1
    return CorpusSplits(train=speeches[:cut], test=speeches[cut:])


def read_enwik8(
    path: str | Path,
    splits: tuple[int, int, int] = ENWIK8_SPLITS,
    document_size: int = STREAM_DOCUMENT_SIZE,
) -> CorpusSplits:
    """Read enwik8 as bytes: first ``splits[0]`` train, skip ``splits[1]``
    (validation), then ``splits[2]`` test, each cut into ``document_size``-byte
    documents."""
    data = Path(path).read_bytes()
    train, test = _stream_splits(data, splits, path)
    return CorpusSplits(_chunks(train, document_size), _chunks(test, document_size))


def read_text8(
    path: str | Path,
    splits: tuple[int, int, int] = ENWIK8_SPLITS,
    document_size: int = STREAM_DOCUMENT_SIZE,
) -> CorpusSplits:
    """Read text8 as characters with the same 90M/5M/5M convention as enwik8."""
    text = _read_text(path)
    train, test = _stream_splits(text, splits, path)
    return CorpusSplits(_chunks(train, document_size), _chunks(test, document_size))


def read_wikitext(root: str | Path) -> CorpusSplits:
    """Read a raw wikitext directory (``wiki.train.raw``, ``wiki.test.raw``);
    each article, from its `` = Title = `` line to the next, is a document."""
    root = Path(root)
    return CorpusSplits(
        train=_wikitext_articles(root / "wiki.train.raw"),
        test=_wikitext_articles(root / "wiki.test.raw"),
    )


def _read_text(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {str(path)!r} does not exist")
    return path.read_text(encoding="utf-8")


def _stream_splits(data, splits: tuple[int, int, int], path: str | Path):
    if len(splits) != 3 or any(int(s) <= 0 for s in splits):
        raise ValueError(f"splits must be three positive sizes (train, valid, test), got {splits}")
    n_train, n_valid, n_test = (int(s) for s in splits)
    if len(data) < n_train + n_valid + n_test:
        raise ValueError(
            f"{str(path)!r} holds {len(data)} units, fewer than the "
            f"{n_train}+{n_valid}+{n_test} the split needs"
        )
    return data[:n_train], data[n_train + n_valid : n_train + n_valid + n_test]


def _chunks(data, size: int) -> list:
    if size <= 0:
        raise ValueError(f"document_size must be positive, got {size}")
    return [data[i : i + size] for i in range(0, len(data), size)]


def _wikitext_articles(path: Path) -> list[str]:
    articles: list[list[str]] = []
    for line in _read_text(path).split("\n"):
        if _WIKITEXT_ARTICLE.match(line) or not articles:
            articles.append([])
        articles[-1].append(line)
    documents = ["\n".join(lines).strip("\n") for lines in articles]
    return [d for d in documents if d.strip()]
