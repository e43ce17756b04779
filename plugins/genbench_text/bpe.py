"""A byte-level BPE tokeniser (Hugging Face ``tokenizers``) trained on a
task's training documents.

Byte level: the text's UTF-8 bytes are the base alphabet (all 256 of them,
whether or not training saw them), so every text encodes and decodes back
to itself exactly; merges are learned on the training text, pre-split by
GPT-2's pattern (words, runs of digits, punctuation, spaces), so a token
never crosses a word boundary. Encoding is deterministic: the canonical
tokenisation of a text is what the model is trained and scored on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

BYTE_ALPHABET = 256


class BpeTokenizer:
    """Text to BPE ids and back.

    Build with :meth:`train` or :meth:`from_state`.

    Attributes:
        size: number of token ids (256 byte tokens plus the merges).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self.size = tokenizer.get_vocab_size()

    @classmethod
    def train(cls, texts: Sequence[str], vocab_size: int) -> BpeTokenizer:
        """Learn merges on ``texts`` until ``vocab_size`` ids (at least 257:
        the 256 bytes and one merge; fewer when merges run out)."""
        if vocab_size <= BYTE_ALPHABET:
            raise ValueError(f"a BPE vocabulary needs more than 256 ids, got {vocab_size}")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def from_state(cls, state: torch.Tensor) -> BpeTokenizer:
        """Rebuild from :meth:`state`."""
        return cls(Tokenizer.from_str(bytes(state.numpy()).decode("utf-8")))

    def state(self) -> torch.Tensor:
        """The tokeniser as a ``uint8`` tensor (its JSON), to store beside
        a model's weights."""
        raw = self._tokenizer.to_str().encode("utf-8")
        return torch.tensor(list(raw), dtype=torch.uint8)

    def encode(self, text: str) -> torch.Tensor:
        """The canonical token ids (``int64``, 1-D) of ``text``."""
        return torch.tensor(self._tokenizer.encode(text).ids, dtype=torch.int64)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """The text of ``ids``: their bytes concatenated and read as UTF-8
        (byte sequences that are not valid UTF-8 become U+FFFD)."""
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_bytes(self, token: int) -> bytes:
        """The bytes token ``token`` stands for."""
        return bytes(BYTE_OF_SYMBOL[c] for c in self._tokenizer.id_to_token(token))


def _byte_level_symbols() -> dict[str, int]:
    """The byte-level alphabet (GPT-2's convention, which ``tokenizers``
    follows): printable Latin-1 bytes stand for themselves, the other bytes,
    in increasing order, for the characters from U+0100 on."""
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    symbols, shifted = {}, 0
    for byte in range(BYTE_ALPHABET):
        if byte in printable:
            symbols[chr(byte)] = byte
        else:
            symbols[chr(BYTE_ALPHABET + shifted)] = byte
            shifted += 1
    return symbols


BYTE_OF_SYMBOL: dict[str, int] = _byte_level_symbols()
"""The byte each symbol of a byte-level token stands for."""
