"""The text plugin's leaderboard rows: one :class:`ModelSpec` per (language
model, decoding strategy). Rows of one language model share its trained
checkpoint through ``trains_as``; the pure-sampling row carries the model's
own name and also reports its test log-likelihood (decoding does not change
it). The ``tokenisation`` option says what the model reads: ``"task"`` (the
task's own characters or bytes) or ``"bpe"`` (a byte-level BPE tokeniser
trained on the train split)."""

from __future__ import annotations

from typing import Any

from genbench import ModelSpec

NGRAM_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {"order": 3},
    "default": {"order": 5},
    "full": {"order": 6},
}
"""Kneser-Ney order per budget."""

TRANSFORMER_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "width": 32, "depth": 1, "heads": 2, "context": 192,
        "dropout": 0.0, "attention_dropout": 0.0,
        "steps": 20, "batch_size": 4, "window": 64, "learning_rate": 3e-3,
    },
    "default": {
        "width": 128, "depth": 2, "heads": 8, "context": 192,
        "dropout": 0.05, "attention_dropout": 0.0,
        "steps": 2400, "batch_size": 8, "window": 192, "learning_rate": 6e-3,
    },
    "full": {
        "width": 256, "depth": 4, "heads": 8, "context": 192,
        "dropout": 0.2, "attention_dropout": 0.2,
        "steps": 6000, "batch_size": 8, "window": 192, "learning_rate": 3e-3,
    },
}  # fmt: skip
"""Architecture and optimisation per budget (``docs/text.md`` has the
measurements behind them). Training windows span the whole 192-token context
that generation (32-token prompt + 128 tokens + draft look-ahead) and rolling
likelihood use, so the model learns to use that much in-document history;
ALiBi would also let a model trained on shorter windows run on it."""

BPE_VOCABULARY: dict[str, int] = {"smoke": 300, "default": 1024, "full": 2048}
"""Byte-level BPE vocabulary (256 bytes plus merges) of ``transformer-bpe``
per budget; its Transformer is the budget's :data:`TRANSFORMER_BUDGETS` one."""

BPE_BUDGETS: dict[str, dict[str, Any]] = {
    budget: {**hyper, "bpe_vocabulary": BPE_VOCABULARY[budget]}
    for budget, hyper in TRANSFORMER_BUDGETS.items()
}

DRAFT_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "width": 16, "depth": 1, "heads": 2, "context": 192,
        "dropout": 0.0, "attention_dropout": 0.0,
        "steps": 10, "batch_size": 4, "window": 64, "learning_rate": 3e-3,
    },
    "default": {
        "width": 64, "depth": 1, "heads": 4, "context": 192,
        "dropout": 0.0, "attention_dropout": 0.0,
        "steps": 1500, "batch_size": 8, "window": 192, "learning_rate": 6e-3,
    },
}  # fmt: skip
"""The small Transformer that drafts for ``transformer-speculative-tdraft``,
trained on the target's data when the row is fitted (``full`` uses
``default``)."""

DECODINGS: dict[str, dict[str, Any]] = {
    "": {"strategy": "sample"},
    "-greedy": {"strategy": "greedy"},
    "-t0.7": {"strategy": "sample", "temperature": 0.7},
    "-topk10": {"strategy": "sample", "top_k": 10},
    "-nucleus0.9": {"strategy": "sample", "top_p": 0.9},
    "-beam4": {"strategy": "beam", "beam_width": 4},
}
"""Row-name suffix -> decoding options, shared by every language model."""

SPECULATIVE: dict[str, dict[str, Any]] = {
    "-speculative": {"strategy": "speculative", "lookahead": 4, "draft": "ngram"},
    "-speculative-tdraft": {"strategy": "speculative", "lookahead": 4, "draft": "transformer"},
}
"""Rows only the Transformer has: it is the target, the n-gram or a small
Transformer the draft."""

_DESCRIPTIONS = {
    "sample": "pure sampling",
    "greedy": "greedy",
    "beam": "beam search",
    "speculative": "speculative sampling",
}


def _describe(model: str, decoding: dict[str, Any]) -> str:
    strategy = decoding["strategy"]
    words = _DESCRIPTIONS[strategy]
    if decoding.get("temperature", 1.0) != 1.0:
        words = f"temperature {decoding['temperature']}"
    if decoding.get("top_k"):
        words = f"top-k {decoding['top_k']}"
    if decoding.get("top_p", 1.0) != 1.0:
        words = f"nucleus p={decoding['top_p']}"
    if strategy == "beam":
        words = f"beam search, width {decoding['beam_width']}"
    if strategy == "speculative":
        words = f"speculative sampling, {decoding['draft']} draft, {decoding['lookahead']} ahead"
    return f"{model}, {words}"


def _rows(
    base: str,
    architecture: str,
    budgets: dict[str, dict[str, Any]],
    label: str,
    decodings: dict[str, dict[str, Any]],
    tokenisation: str = "task",
) -> list[ModelSpec]:
    rows = []
    for suffix, decoding in decodings.items():
        capabilities = {"sample", "log_likelihood"} if suffix == "" else {"sample"}
        rows.append(
            ModelSpec(
                name=base + suffix,
                family="autoregressive",
                modalities=("text",),
                capabilities=capabilities,
                budgets=budgets,
                options={
                    "architecture": architecture,
                    "tokenisation": tokenisation,
                    "decoding": decoding,
                },
                description=_describe(label, decoding),
                trains_as="" if suffix == "" else base,
            )
        )
    return rows


def model_specs() -> list[ModelSpec]:
    """Every row this plugin registers."""
    return [
        *_rows("ngram", "ngram", NGRAM_BUDGETS, "Kneser-Ney n-gram", DECODINGS),
        *_rows(
            "transformer",
            "transformer",
            TRANSFORMER_BUDGETS,
            "decoder-only Transformer",
            {**DECODINGS, **SPECULATIVE},
        ),
        *_rows(
            "transformer-bpe",
            "transformer",
            BPE_BUDGETS,
            "decoder-only Transformer on byte-level BPE tokens",
            {"": DECODINGS[""]},
            tokenisation="bpe",
        ),
    ]
