"""Text tasks: vocabulary, the pydoc split, on-disk corpus readers,
reference snippets, dimension counts and sample validation."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.metrics.kneser_ney import KneserNeyLM
from genbench.tasks.shakespeare import (
    SHARED_LINE_CHARS,
    ChecksumError,
    ShakespeareTask,
    data_root,
    read_works,
    split_works,
)
from genbench.tasks.text import (
    CorpusFileTask,
    Enwik8Task,
    PydocTask,
    Text8Task,
    TextVocabulary,
    TinyShakespeareTask,
    WikiTextTask,
)
from genbench.tasks.text_formats import (
    CorpusSplits,
    read_enwik8,
    read_text8,
    read_tiny_shakespeare,
    read_wikitext,
)
from genbench.tasks.validation import SampleValidationError

# -- vocabulary -----------------------------------------------------------------


def test_char_vocabulary_round_trip_and_errors():
    vocabulary = TextVocabulary.from_documents("char", ["bca", "ab "])
    assert vocabulary.symbols == (" ", "a", "b", "c")
    ids = vocabulary.encode("cab a")
    assert ids.tolist() == [3, 1, 2, 0, 1] and ids.dtype == torch.int64
    assert vocabulary.decode(ids) == "cab a"
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        vocabulary.encode("az")
    with pytest.raises(ValueError, match="encodes str, not bytes"):
        vocabulary.encode(b"ab")
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 4\)"):
        vocabulary.decode([4])
    with pytest.raises(ValueError, match="token unit must be one of"):
        TextVocabulary("word")
    with pytest.raises(ValueError, match="distinct single characters"):
        TextVocabulary("char", ["ab"])


def test_unit_counts_for_char_and_byte_vocabularies():
    text = "héllo wörld"  # 11 characters, 13 UTF-8 bytes, 2 words
    chars = TextVocabulary.from_documents("char", [text])
    assert chars.unit_counts(chars.encode(text)) == (11, 13, 2)
    raw = TextVocabulary("byte")
    ids = raw.encode(text)
    assert raw.size == 256 and len(ids) == 13
    assert raw.unit_counts(ids) == (11, 13, 2)
    assert raw.decode(ids) == text
    assert raw.decode(ids[:2]) == "h"  # a character cut in half is dropped


# -- the embedded default ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pydoc() -> PydocTask:
    return PydocTask()


def test_pydoc_split_keeps_topics_sharing_paragraphs_together(pydoc):
    corpus = pydoc._corpus()
    assert (len(corpus.train), len(corpus.test), len(corpus.validation)) == (36, 28, 15)

    def paragraphs(documents):
        return {
            p.strip() for d in documents for p in re.split(r"\n\s*\n", d) if len(p.strip()) >= 80
        }

    train, test, holdout = (paragraphs(s) for s in (corpus.train, corpus.test, corpus.validation))
    assert not train & test and not train & holdout and not test & holdout
    chars = [sum(len(d) for d in s) for s in (corpus.train, corpus.test, corpus.validation)]
    assert 0.2 <= chars[1] / sum(chars) < 0.25
    assert 0.15 <= chars[2] / sum(chars) < 0.2


def test_pydoc_holdout_and_training_snippets(pydoc):
    data = pydoc.load()
    assert data.holdout is not None and pydoc.validation is data.holdout
    holdout = pydoc.holdout_samples()
    assert len(holdout) == sum((len(d) - 32) // 128 for d in data.holdout) == 708
    assert len(holdout) >= pydoc.eval_samples["default"]
    training = pydoc.training_samples()
    assert len(training) == sum((len(d) - 32) // 128 for d in data.train) == 2152
    assert pydoc.training_samples() is training  # cut once
    assert all(len(s) == 128 for s in holdout + training)
    assert not set(holdout) & set(pydoc.reference_snippets())
    assert not set(holdout) & set(training)


def test_pydoc_reference_snippets_and_counts(pydoc):
    data = pydoc.load()
    snippets = pydoc.reference_snippets()
    assert len(snippets) == sum(len(d) // 160 for d in data.test)
    assert all(len(s) == pydoc.sample_tokens for s in snippets)
    assert pydoc.reference("smoke") == snippets[:48]
    batch = pydoc.likelihood_batch("default")
    assert len(batch) == len(data.test)
    counts = pydoc.dimension_counts(batch[:2])
    texts = [pydoc.vocabulary.decode(d) for d in batch[:2]]
    assert counts["char"].tolist() == [len(t) for t in texts]
    assert counts["byte"].tolist() == [len(t.encode()) for t in texts]
    assert counts["word"].tolist() == [len(t.split()) for t in texts]


def test_pydoc_kneser_ney_reference_bits_per_char(pydoc):
    data = pydoc.load()
    model = KneserNeyLM.fit(data.train, pydoc.vocabulary.size, order=5)
    nats = sum(model.log_prob(d) for d in data.test)
    chars = sum(len(d) for d in data.test)
    assert -nats / chars / np.log(2) == pytest.approx(1.9205, abs=1e-3)


def test_validate_samples_explains_every_violation(pydoc):
    good = ["def f(x):", "the cat"]
    assert pydoc.validate_samples(good, 2) is good
    cases = [
        (("a", "b"), 2, "must be a list of str, got tuple"),
        (["a"], 2, "expected 2 text samples, got 1"),
        ([b"a"], 1, "text sample 0 must be a str, got bytes"),
        ([""], 1, "text sample 0 is empty"),
        (["a\x00b"], 1, "contains a NUL character"),
        (["a\u4e2d"], 1, "is not in the vocabulary"),
        (["a" * 129], 1, "has 129 tokens, more than the task's 128"),
    ]
    for samples, n, message in cases:
        with pytest.raises(SampleValidationError, match=re.escape(message)):
            pydoc.validate_samples(samples, n)


# -- on-disk formats ------------------------------------------------------------------


def test_tiny_shakespeare_split_is_contiguous_at_speech_boundaries(tmp_path: Path):
    speeches = [f"SPEAKER{i}:\nline {i} of the play." for i in range(20)]
    path = tmp_path / "input.txt"
    path.write_text("\n\n".join(speeches) + "\n")
    corpus = read_tiny_shakespeare(path)
    assert corpus.train + corpus.test == speeches
    assert len(corpus.train) == 18  # 90 % of the characters, whole speeches
    task = TinyShakespeareTask(path)
    assert task.name == "text/tiny-shakespeare" and task.unit == "char"
    assert task.vocabulary.decode(task.load().test[0]) == speeches[18]
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        read_tiny_shakespeare(path, test_fraction=1.0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_tiny_shakespeare(tmp_path / "missing.txt")


def test_enwik8_and_text8_follow_the_train_valid_test_convention(tmp_path: Path):
    data = bytes(range(256)) * 4  # 1024 bytes
    path = tmp_path / "enwik8"
    path.write_bytes(data)
    corpus = read_enwik8(path, splits=(900, 50, 50), document_size=400)
    assert [len(d) for d in corpus.train] == [400, 400, 100]
    assert b"".join(corpus.train) == data[:900]
    assert corpus.test == [data[950:1000]]
    task = Enwik8Task(path, splits=(900, 50, 50))
    assert task.unit == "byte" and task.vocabulary.size == 256
    assert task.load().test[0].tolist() == list(data[950:1000])
    with pytest.raises(ValueError, match="holds 1024 units, fewer than the 900"):
        read_enwik8(path, splits=(900, 100, 100))
    with pytest.raises(ValueError, match="three positive sizes"):
        read_enwik8(path, splits=(900, 0, 50))

    text8 = tmp_path / "text8"
    text = "anarchism originated as a term " * 10  # 310 characters
    text8.write_text(text)
    corpus = read_text8(text8, splits=(200, 50, 60), document_size=100)
    assert len(corpus.train) == 2 and corpus.test == [text[250:]]
    assert Text8Task(text8, splits=(200, 50, 60)).vocabulary.size == len(set(text))


def test_wikitext_articles_start_at_top_level_headings(tmp_path: Path):
    train = (
        " = Valkyria = \n \n Senjō no Valkyria is a game . \n \n = = Gameplay = = \n"
        " Play is turn based . \n \n = Tower Building = \n \n The tower is tall . \n"
    )
    test = " = Robert Boulter = \n \n Robert is an actor . \n"
    (tmp_path / "wiki.train.raw").write_text(train)
    (tmp_path / "wiki.test.raw").write_text(test)
    corpus = read_wikitext(tmp_path)
    assert len(corpus.train) == 2
    assert corpus.train[0].startswith(" = Valkyria = ") and "Gameplay" in corpus.train[0]
    assert corpus.train[1].startswith(" = Tower Building = ")
    assert corpus.test == [test.strip("\n")]
    task = WikiTextTask(tmp_path, unit="byte")
    assert task.name == "text/wikitext"
    assert task.dimension_counts(task.load().train[:1])["char"][0] == len(corpus.train[0])


def test_snippets_follow_a_prompt_and_step_by_the_stride():
    task = CorpusFileTask(
        "snippets",
        lambda: CorpusSplits(
            train=["abcdefghij", "xyz"], test=["0123456789"], validation=["ABCDEFGHIJ"]
        ),
    )
    task.prompt_tokens, task.sample_tokens = 2, 3
    train = task.load().train
    assert task.snippets(train, stride=3) == ["cde", "fgh"]  # "xyz" is too short
    assert task.snippets(train, stride=2) == ["cde", "efg", "ghi"]
    assert sorted(task.reference_snippets()) == ["234", "789"]  # windows of 5, last 3
    assert task.training_samples() == ["cde", "fgh"]
    assert task.holdout_samples() == ["CDE", "FGH"]
    with pytest.raises(ValueError, match="snippet stride must be a positive token count, got 0"):
        task.snippets(train, stride=0)


def test_a_corpus_without_validation_has_no_holdout():
    task = CorpusFileTask("bare", lambda: CorpusSplits(train=["abcdef"], test=["abc"]))
    assert task.load().holdout is None
    assert task.holdout_samples() is None and task.validation == []


def test_corpus_needs_both_splits():
    with pytest.raises(ValueError, match="at least one train and one test document"):
        CorpusSplits(train=["a"], test=[])


# -- the packaged Shakespeare -------------------------------------------------------------


@pytest.fixture(scope="module")
def shakespeare_works() -> dict[str, str]:
    return read_works()


def test_shakespeare_works_are_the_complete_ascii_corpus(shakespeare_works):
    assert len(shakespeare_works) == 42
    assert sum(len(t) for t in shakespeare_works.values()) == 5_057_198
    assert all(t.isascii() for t in shakespeare_works.values())
    assert shakespeare_works["hamlet"].startswith("HAMLET, PRINCE OF DENMARK\n\nby William")


def test_shakespeare_split_is_by_work_without_shared_lines(shakespeare_works):
    train, validation, test = split_works(shakespeare_works)
    assert test == [
        "coriolanus",
        "merchant_of_venice",
        "much_ado_about_nothing",
        "pericles",
        "phoenix_and_the_turtle",
        "tempest",
    ]
    assert validation == ["as_you_like_it", "comedy_of_errors", "timon_of_athens"]
    assert sorted(train + validation + test) == sorted(shakespeare_works)
    assert len(set(train + validation + test)) == 42

    def lines(names):
        return {
            line.strip()
            for name in names
            for line in shakespeare_works[name].split("\n")
            if len(line.strip()) >= SHARED_LINE_CHARS
        }

    assert not lines(test) & lines(train + validation)
    assert not lines(validation) & lines(train)
    # the one group the rule exists for: verse printed in both works
    assert lines(["passionate_pilgrim"]) & lines(["loves_labours_lost"])
    assert {"passionate_pilgrim", "loves_labours_lost"} <= set(train)


def test_shakespeare_task_encodes_every_split(shakespeare_works):
    task = ShakespeareTask()
    data = task.load()
    assert task.name == "text/shakespeare" and task.vocabulary.size == 84
    assert (len(data.train), len(task.validation), len(data.test)) == (33, 3, 6)
    assert task.vocabulary.decode(data.test[-1]) == shakespeare_works["tempest"]
    counts = task.dimension_counts(data.test)
    assert counts["char"].sum() == counts["byte"].sum() == 617_253


def test_shakespeare_checksum_is_verified(tmp_path: Path):
    root = tmp_path / "shakespeare"
    shutil.copytree(data_root(), root)
    path = root / "sonnets.txt.xz"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match=r"sonnets\.txt\.xz' is corrupted: its SHA-256 is"):
        ShakespeareTask(root).load()
    path.unlink()
    with pytest.raises(ChecksumError, match="listed in SHA256SUMS, is missing"):
        read_works(root)
    (root / "extra.txt.xz").write_bytes(b"")
    with pytest.raises(ChecksumError, match=r"\['extra.txt.xz'\] .* are not listed"):
        read_works(root)
    (root / "SHA256SUMS").unlink()
    with pytest.raises(ChecksumError, match="has no SHA256SUMS"):
        read_works(root)
