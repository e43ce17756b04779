"""Run records built in memory for report tests (no model runs)."""

from __future__ import annotations

from genbench.records import RunConfig, RunRecord
from genbench.records.config import NOISE_FLOOR, DerivedSeeds, ModelConfig
from genbench.records.record import Failure, LikelihoodInfo, Provenance, TaskInfo

PROVENANCE = Provenance(
    genbench_version="0", git_commit={}, libraries={}, host={}, started_at="", finished_at="",
    checkpoint=None,
)  # fmt: skip


def make_record(
    model: str, family: str, seed: int, metrics: dict, *, exact=True, description="", status="ok",
    budget="default", model_info=None,
) -> RunRecord:  # fmt: skip
    config = RunConfig(
        model=ModelConfig(model, family, "p", "1", ("sample",), {}, model),
        description=description,
        hyperparameters={},
        task="toy/ring8",
        task_fingerprint="f" * 64,
        budget=budget,
        seed=seed,
        n_samples=100,
        derived_seeds=DerivedSeeds(seed, seed, seed),
        role=NOISE_FLOOR if model == "data" else "",
    )
    return RunRecord(
        config=config,
        config_hash=config.hash,
        task_info=TaskInfo("toy", "fid"),
        status=status,
        provenance=PROVENANCE,
        failure=None if status == "ok" else Failure("p", "sample", "boom | bad", "X"),
        metrics=metrics if status == "ok" else {},
        likelihood=LikelihoodInfo(exact, "exact") if "bits_per_dim" in metrics else None,
        counts={"n_generated": 100, "n_real": 100},
        model_info=dict(model_info or {}),
    )
