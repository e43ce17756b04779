"""Hook implementations of the text models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from genbench import LogLikelihood, ModelSpec, hookimpl
from genbench.checkpoints import Checkpoint
from genbench.metrics.info import MetricInfo
from genbench.metrics.kneser_ney import KneserNeyLM
from genbench.tasks.base import Task
from genbench.tasks.text import TextTask
from genbench_text.bpe import BpeTokenizer
from genbench_text.decoding import Decoding
from genbench_text.models import GENERATION_BATCH, TextModel
from genbench_text.prompts import PromptSource
from genbench_text.specs import DRAFT_BUDGETS, NGRAM_BUDGETS, model_specs
from genbench_text.training import TrainingConfig, train_language_model
from genbench_text.transformer import CausalTransformer, TransformerConfig

_SPECS = {spec.name: spec for spec in model_specs()}
ACCEPTANCE_RATE = MetricInfo(
    "acceptance_rate",
    "1",
    True,
    ("text",),
    "Speculative decoding: fraction of draft tokens the target accepted, on a "
    "calibration batch of 100 prompts.",
    "speed",
)
TOKENS_PER_TARGET_CALL = MetricInfo(
    "tokens_per_target_call",
    "tokens/call",
    True,
    ("text",),
    "Speculative decoding: tokens produced per target verification of one sequence "
    "(1 for direct sampling), on the calibration batch.",
    "speed",
)
GENERATION_BATCH_INFO = MetricInfo(
    "generation_batch",
    "sequences",
    None,
    ("text",),
    "Sequences a text model generates at once (batched, KV-cached decoding); "
    "samples per second are the throughput at this batch size.",
    "model",
)
BPE_VOCABULARY = MetricInfo(
    "bpe_vocabulary",
    "tokens",
    None,
    ("text",),
    "Token ids of a BPE language model's byte-level tokeniser (256 bytes plus merges).",
    "model",
)
CALIBRATION_SEED = 0
"""Seeds the speculative row's calibration batch (acceptance rate)."""
BPE_STATE = "bpe.tokenizer"
"""Checkpoint entry holding a BPE model's tokeniser (its JSON as bytes)."""


@hookimpl
def register_metrics(register: Callable[[MetricInfo], MetricInfo]) -> None:
    """The metrics the text rows report besides genbench's own."""
    for info in (ACCEPTANCE_RATE, TOKENS_PER_TARGET_CALL, GENERATION_BATCH_INFO, BPE_VOCABULARY):
        register(info)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register every (language model, decoding) row."""
    for spec in _SPECS.values():
        register(spec)


@hookimpl
def fit(
    spec: ModelSpec,
    task: Task,
    budget: str,
    seed: int,
    checkpoint: Checkpoint,
    device: torch.device | str | None = None,
) -> TextModel | None:
    """Train (or load) the spec's language model on ``task``'s train split.

    Transformers train on ``device`` (``None``: the CPU) and then return to
    the CPU, where decoding (KV caches, per-row generators, speculative
    sampling) and likelihoods run; n-gram models are counted on the CPU."""
    if spec.name not in _SPECS:
        return None
    if not isinstance(task, TextTask):
        raise TypeError(f"model {spec.name!r} needs a text task, got {task.name!r}")
    hyper = spec.hyperparameters(budget)
    decoding = Decoding.from_options(spec.options["decoding"])
    documents = task.load().train
    vocab_size = task.vocabulary.size
    prompt_tokens = task.prompt_tokens
    state = checkpoint.load()
    tokeniser = None
    if spec.options.get("tokenisation") == "bpe":
        tokeniser = (
            BpeTokenizer.from_state(state.pop(BPE_STATE))
            if state is not None
            else BpeTokenizer.train(
                [task.vocabulary.decode(d) for d in documents], int(hyper["bpe_vocabulary"])
            )
        )
        task_tokens = sum(len(d) for d in documents)
        documents = [tokeniser.encode(task.vocabulary.decode(d)) for d in documents]
        vocab_size = tokeniser.size
        # a prompt covers about as much text as the task's prompt
        prompt_tokens = max(1, round(prompt_tokens * sum(map(len, documents)) / task_tokens))
    if spec.options["architecture"] == "ngram":
        if state is None:
            network = KneserNeyLM.fit(documents, vocab_size, int(hyper["order"]))
            checkpoint.save(network.state_dict())
        else:
            network = KneserNeyLM.from_state_dict(state)
    else:
        network = _fit_transformer(hyper, documents, vocab_size, seed, state, device)
        if state is None:
            extra = {BPE_STATE: tokeniser.state()} if tokeniser is not None else {}
            checkpoint.save({**network.state_dict(), **extra})
    model = TextModel(
        name=spec.name,
        network=network,
        decoding=decoding,
        vocabulary=task.vocabulary,
        prompts=PromptSource(documents, prompt_tokens),
        sample_tokens=task.sample_tokens,
        tokeniser=tokeniser,
    )
    if decoding.strategy == "speculative":
        model.draft = _fit_draft(decoding.draft, budget, documents, vocab_size, seed, device)
        prompts = model.prompts.draw(GENERATION_BATCH, np.random.default_rng(CALIBRATION_SEED))
        _, model.calibration = model.generate_ids(
            prompts, CALIBRATION_SEED, range(GENERATION_BATCH)
        )
    return model


def _fit_draft(
    kind: str,
    budget: str,
    documents: list[torch.Tensor],
    vocab_size: int,
    seed: int,
    device: torch.device | str | None,
) -> CausalTransformer | KneserNeyLM:
    """The draft model of speculative sampling, trained on the target's data:
    the n-gram of the budget, or the small Transformer of
    :data:`~genbench_text.specs.DRAFT_BUDGETS`."""
    if kind == "ngram":
        order = int(NGRAM_BUDGETS.get(budget, NGRAM_BUDGETS["default"])["order"])
        return KneserNeyLM.fit(documents, vocab_size, order)
    hyper = DRAFT_BUDGETS.get(budget, DRAFT_BUDGETS["default"])
    return _fit_transformer(hyper, documents, vocab_size, seed, None, device)


def _fit_transformer(
    hyper: dict[str, Any],
    documents: list[torch.Tensor],
    vocab_size: int,
    seed: int,
    state: dict[str, torch.Tensor] | None,
    device: torch.device | str | None = None,
) -> CausalTransformer:
    """A Transformer of the ``hyper`` architecture, on the CPU: loaded from
    ``state``, or trained on ``documents`` with ``seed`` on ``device``
    (``None``: the CPU) when ``state`` is ``None``."""
    config = TransformerConfig(
        vocab_size=vocab_size,
        context=int(hyper["context"]),
        width=int(hyper["width"]),
        depth=int(hyper["depth"]),
        heads=int(hyper["heads"]),
        dropout=float(hyper["dropout"]),
        attention_dropout=float(hyper["attention_dropout"]),
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = CausalTransformer(config)
    if state is not None:
        network.load_state_dict(state)
    else:
        training = TrainingConfig(
            steps=int(hyper["steps"]),
            batch_size=int(hyper["batch_size"]),
            window=int(hyper["window"]),
            learning_rate=float(hyper["learning_rate"]),
        )
        network.to(device if device is not None else "cpu")
        train_language_model(network, documents, network.bos, training, seed)
        network.cpu()
    return network.eval()


@hookimpl
def sample(model: Any, n: int, seed: int) -> list[str] | None:
    """``n`` continuations (``task.sample_tokens`` tokens each) of training
    prompts, decoded with the row's strategy."""
    if not isinstance(model, TextModel):
        return None
    return model.sample(n, seed)


@hookimpl
def log_likelihood(model: Any, x: list[torch.Tensor]) -> LogLikelihood | None:
    """Exact log-probability in nats of each test document (Transformer:
    rolling windows, every token predicted once). ``None`` for decoding rows
    that do not declare ``log_likelihood`` (their base model's row reports it)."""
    if not isinstance(model, TextModel) or "log_likelihood" not in _SPECS[model.name].capabilities:
        return None
    nats, details = model.log_likelihood(x)
    return LogLikelihood(nats=nats, exact=True, method="exact", details=details)


@hookimpl
def model_info(model: Any) -> dict[str, float] | None:
    """Parameters (n-gram: stored n-gram counts), sequential network calls
    per sample (``nfe``), sequences generated at once (``generation_batch``),
    the BPE vocabulary of a BPE model and, for speculative rows, the
    acceptance rate of a calibration batch."""
    if not isinstance(model, TextModel):
        return None
    info = {
        "parameters": float(model.parameters()),
        "nfe": model.network_calls_per_sample(),
        GENERATION_BATCH_INFO.name: float(model.batch_size),
    }
    if model.tokeniser is not None:
        info[BPE_VOCABULARY.name] = float(model.tokeniser.size)
    if model.calibration is not None:
        info[ACCEPTANCE_RATE.name] = model.calibration.acceptance_rate
        info[TOKENS_PER_TARGET_CALL.name] = model.calibration.tokens_per_round
    return info
