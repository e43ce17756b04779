"""``text/shakespeare``: the complete works, shipped with genbench.

The 42 plays and poems (5,057,198 ASCII characters) are package data under
``genbench/data/shakespeare/``: one xz-compressed file per work, a
``SHA256SUMS`` manifest checked on every read, and ``ATTRIBUTION.md``
(source, CC-BY 2.5 licence, changes). Works are the documents and the split
is by work: works that share a line of 40 or more characters (the
Passionate Pilgrim prints verse from Love's Labour's Lost) form a group and a
group is never split; test and validation works are whole groups drawn in a
fixed seeded order until they hold 10 % and 5 % of the characters.
"""

from __future__ import annotations

import hashlib
import lzma
from importlib.resources import files
from pathlib import Path
from typing import ClassVar

from genbench.tasks.splits import split_by_shared_passages
from genbench.tasks.text import TASK_SEED, TextTask
from genbench.tasks.text_formats import CorpusSplits

CHECKSUMS = "SHA256SUMS"
"""Manifest of the data folder: ``<sha256 hex>  <file name>`` per work."""

SUFFIX = ".txt.xz"

SHARED_LINE_CHARS = 40
"""Works sharing a line at least this long are kept on one side of the split;
shorter shared lines are stage directions, headings and stock phrases
(``[Exeunt.]``, ``SCENE I. London. A street.``, ``How now! what's the matter?``)."""


class ChecksumError(ValueError):
    """A packaged data file is missing, unlisted or does not match its SHA-256."""


def data_root() -> Path:
    """The folder of the packaged works."""
    return Path(str(files("genbench") / "data" / "shakespeare"))


def read_works(root: str | Path | None = None) -> dict[str, str]:
    """Every work's text by name (its file name without ``.txt.xz``), in
    name order, after checking each file against ``SHA256SUMS``.

    Args:
        root: the data folder (default: the packaged one).

    Raises:
        ChecksumError: the manifest is missing, a listed file is missing, a
            file's SHA-256 differs from the manifest's, or a ``.txt.xz`` file
            is not listed.
    """
    root = Path(root) if root is not None else data_root()
    manifest = root / CHECKSUMS
    if not manifest.is_file():
        raise ChecksumError(f"the Shakespeare data folder {str(root)!r} has no {CHECKSUMS}")
    expected = dict(
        reversed(line.split(None, 1)) for line in manifest.read_text().splitlines() if line
    )
    unlisted = sorted({p.name for p in root.glob("*" + SUFFIX)} - set(expected))
    if unlisted:
        raise ChecksumError(f"{unlisted} in {str(root)!r} are not listed in {CHECKSUMS}")
    works = {}
    for name in sorted(expected):
        path = root / name
        if not path.is_file():
            raise ChecksumError(f"{str(path)!r}, listed in {CHECKSUMS}, is missing")
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected[name]:
            raise ChecksumError(
                f"{str(path)!r} is corrupted: its SHA-256 is {digest}, {CHECKSUMS} says "
                f"{expected[name]}; reinstall genbench"
            )
        works[name.removesuffix(SUFFIX)] = lzma.decompress(raw).decode("ascii")
    return works


def split_works(
    works: dict[str, str], test_fraction: float = 0.1, validation_fraction: float = 0.05
) -> tuple[list[str], list[str], list[str]]:
    """Names of the ``(train, validation, test)`` works, each in name order.

    Groups of works sharing a line of :data:`SHARED_LINE_CHARS`+ characters
    are drawn whole in a permutation seeded with ``TASK_SEED``: first into
    test until it holds ``test_fraction`` of the characters, then into
    validation until ``validation_fraction``; the rest train.
    """
    names = sorted(works)
    train, test, validation = split_by_shared_passages(
        [works[n] for n in names],
        min_chars=SHARED_LINE_CHARS,
        separator=r"\n",
        fractions=(test_fraction, validation_fraction),
        seed=TASK_SEED,
    )

    def named(part: list[int]) -> list[str]:
        return [names[i] for i in part]

    return named(train), named(validation), named(test)


class ShakespeareTask(TextTask):
    """Shakespeare's complete works at character level, split by work.

    Args:
        root: the data folder (default: the packaged one); tests point it
            at a copy.
    """

    name = "text/shakespeare"
    description = "Shakespeare's complete works (42), character level, split by work"
    test_fraction: ClassVar[float] = 0.1
    validation_fraction: ClassVar[float] = 0.05

    def __init__(self, root: str | Path | None = None) -> None:
        super().__init__()
        self.root = root

    def _corpus(self) -> CorpusSplits:
        works = read_works(self.root)
        train, validation, test = split_works(works, self.test_fraction, self.validation_fraction)
        return CorpusSplits(
            train=[works[n] for n in train],
            test=[works[n] for n in test],
            validation=[works[n] for n in validation],
        )
