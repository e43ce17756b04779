"""Speculative vs direct sampling from the same Transformer on a text task.

The target is the text plugin's Transformer trained at ``--budget`` on
``--task`` (cached under ``--cache``, or loaded from ``--weights``, e.g. a
checkpoint that ``genbench run`` wrote); each draft in ``--drafts`` is
measured against it in the same run: ``ngram`` (the Kneser-Ney n-gram of the
budget) and ``transformer`` (the small Transformer of ``DRAFT_BUDGETS``,
trained on the same data). ``--repeats`` repeats every measurement so the
spread of the ratio shows.
Generation runs one sequence at a time (batch 1, the latency-bound regime
speculative decoding is for), continuing training prompts as the
leaderboard rows do. For each temperature it prints direct and speculative
tokens per second, their ratio, the measured acceptance rate ``a``, tokens
per target call and the measured cost of one round in direct steps, for
each lookahead ``k`` in ``--lookahead``. Direct and speculative generation
alternate sequence by sequence, so a change in the machine's load affects
both alike.

It also prints what a 2x speed-up needs. With ``k`` draft tokens per
round, each accepted independently with probability ``a``, a round yields
``(1 - a^(k+1)) / (1 - a)`` tokens (Leviathan et al. 2023) and costs one
target call on ``k + 1`` tokens plus ``k`` draft steps (a draft step:
the n-gram's distribution, its filtering and one draw). Timing those costs
here (relative to one direct step) gives the acceptance rate at which the
ratio reaches 2. Times are the process's CPU time on one thread, so other
load on the machine does not distort the ratios. Usage::

    python benchmarks/bench_speculative.py --budget default --samples 10 --lookahead 2 4 6
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from genbench_text import plugin
from genbench_text.decoding import Decoding, filter_log_probs, generate, sample_categorical
from genbench_text.models import TextModel
from genbench_text.sessions import TransformerSession
from genbench_text.specs import model_specs
from genbench_text.speculative import SpeculativeStats, speculative_generate
from genbench_text.streams import RowStreams

from genbench import ModelSpec
from genbench.checkpoints import Checkpoint
from genbench.tasks.shakespeare import ShakespeareTask
from genbench.tasks.text import PydocTask, TextTask

TASKS = {"pydoc": PydocTask, "shakespeare": ShakespeareTask}
ROWS = {"ngram": "transformer-speculative", "transformer": "transformer-speculative-tdraft"}


class WeightsFile(Checkpoint):
    """A checkpoint slot that reads a given safetensors file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.parent, {"weights": str(path)})
        self.path = path

    def save(self, state: dict[str, torch.Tensor]) -> None:
        raise RuntimeError(f"{self.path} could not be loaded as the target's weights")


def fitted(name: str, task: TextTask, budget: str, cache: Path, weights: Path | None) -> TextModel:
    spec: ModelSpec = next(s for s in model_specs() if s.name == name)
    key = {
        "bench": "speculative",
        "network": spec.trains_as or spec.name,
        "budget": budget,
        "hyperparameters": spec.hyperparameters(budget),  # a changed budget retrains
    }
    checkpoint = WeightsFile(weights) if weights else Checkpoint(cache, key)
    return plugin.fit(spec=spec, task=task, budget=budget, seed=0, checkpoint=checkpoint)


def timed(function, repeats: int = 20) -> float:
    """Median CPU seconds of ``function()``."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return float(np.median(times))


def step_costs(model: TextModel, lookahead: int) -> tuple[float, float, float]:
    """Seconds of one direct target step, one target call on ``lookahead + 1``
    tokens, and one draft step (distribution, filter, draw), each with a
    32-token history."""
    prompt = model.prompts.draw(1, np.random.default_rng(0))
    generator = torch.Generator().manual_seed(0)

    def call(network, tokens: int, draw: bool) -> float:
        session = model.session(network, 1)
        session.feed(prompt)

        def once() -> None:
            log_probs = session.feed(torch.zeros(1, tokens, dtype=torch.int64))
            if draw:
                sample_categorical(filter_log_probs(log_probs[:, -1]).exp(), generator)
            session.truncate(session.lengths - tokens)

        return timed(once)

    return (
        call(model.network, 1, True),
        call(model.network, lookahead + 1, False),
        call(model.draft, 1, True),
    )


def needed_acceptance(lookahead: int, verify: float, draft: float, target: float = 2.0) -> float:
    """Smallest acceptance rate whose expected speed-up reaches ``target``,
    with costs relative to one direct step (1 when unreachable)."""
    cost = verify + lookahead * draft
    for rate in np.linspace(0.0, 0.999, 1000):
        tokens = (1 - rate ** (lookahead + 1)) / (1 - rate)
        if tokens / cost >= target:
            return float(rate)
    return 1.0


def compare(
    model: TextModel, prompts: torch.Tensor, temperature: float, lookahead: int
) -> tuple[float, float, SpeculativeStats]:
    """CPU seconds of direct and of speculative sampling of every prompt
    (alternating sequence by sequence), and the speculative counts."""
    decoding = Decoding("sample", temperature=temperature)
    length = model.sample_tokens
    direct_streams = RowStreams([0])
    speculative_generator = torch.Generator().manual_seed(1)
    direct = speculative = 0.0
    total = SpeculativeStats()
    for prompt in prompts:
        start = time.process_time()
        generate(
            TransformerSession(model.network, 1), prompt[None], length, decoding, direct_streams
        )
        middle = time.process_time()
        _, stats = speculative_generate(
            TransformerSession(model.network, 1),
            model.session(model.draft, 1),
            prompt[None],
            length,
            lookahead,
            speculative_generator,
            temperature=temperature,
        )
        end = time.process_time()
        direct, speculative = direct + middle - start, speculative + end - middle
        for name in ("rows", "drafted", "accepted", "emitted", "rounds", "target_calls"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
    return direct, speculative, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pydoc", choices=sorted(TASKS))
    parser.add_argument("--budget", default="default", choices=["smoke", "default", "full"])
    parser.add_argument("--drafts", nargs="+", default=sorted(ROWS), choices=sorted(ROWS))
    parser.add_argument("--repeats", type=int, default=1, help="measurements per setting")
    parser.add_argument("--samples", type=int, default=10, help="sequences per measurement")
    parser.add_argument("--cache", type=Path, default=Path(".genbench-cache/bench-speculative"))
    parser.add_argument("--weights", type=Path, help="target weights (safetensors)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.7, 0.4])
    parser.add_argument(
        "--lookahead", type=int, nargs="+", help="draft tokens per round (default: the row's)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    task = TASKS[args.task]()
    prompts = None
    tokens = args.samples * task.sample_tokens
    for draft in args.drafts:
        model = fitted(ROWS[draft], task, args.budget, args.cache, args.weights)
        lookaheads = args.lookahead or [model.decoding.lookahead]
        print(
            f"{args.task}: target {model.parameters():,} parameters; draft {draft} "
            f"({model.draft.__class__.__name__}); batch 1; {args.samples} x "
            f"{task.sample_tokens} tokens"
        )
        for lookahead in lookaheads:
            direct_step, verify, draft_step = step_costs(model, lookahead)
            need = needed_acceptance(lookahead, verify / direct_step, draft_step / direct_step)
            print(
                f"k = {lookahead}: one direct step {direct_step * 1e3:.2f} ms; verifying "
                f"{lookahead + 1} tokens {verify / direct_step:.2f}x a step; one draft step "
                f"{draft_step / direct_step:.2f}x; acceptance needed for 2x: {need:.2f}"
            )
        print(f"{'draft':>11} {'k':>2} {'temperature':>11} {'direct tok/s':>12} {'spec tok/s':>10} "
              f"{'ratio':>6} {'acceptance':>10} {'tok/call':>8} {'round cost':>10}")  # fmt: skip
        if prompts is None:
            prompts = model.prompts.draw(args.samples, np.random.default_rng(1))
        for temperature in args.temperatures:
            for lookahead in lookaheads:
                for _ in range(args.repeats):
                    direct, speculative, stats = compare(model, prompts, temperature, lookahead)
                    round_cost = (speculative / stats.rounds) / (direct / tokens)  # direct steps
                    print(
                        f"{draft:>11} {lookahead:>2} {temperature:>11.2f} {tokens / direct:>12.1f} "
                        f"{tokens / speculative:>10.1f} {direct / speculative:>6.2f} "
                        f"{stats.acceptance_rate:>10.3f} {stats.tokens_per_round:>8.2f} "
                        f"{round_cost:>10.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
