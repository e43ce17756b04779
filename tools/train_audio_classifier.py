"""Train the in-domain audio digit classifier and write its committed weights.

Usage (from the repository root)::

    python tools/train_audio_classifier.py [--epochs 12] [--seed 0]

Trains :class:`~genbench.features.audio_classifier.DigitAudioCNN` on the
``audio/digits`` training split (synthesised on first use, then cached) on
the CPU with one thread and seeded initialisation, order and augmentation, so
a rerun on the same software writes the same weights. Writes
``audio-digits.safetensors`` and ``audio-digits.json`` (SHA-256, test
accuracy, architecture, data key, training settings) atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from genbench.features.audio_classifier import (
    METADATA_PATH,
    WEIGHTS_PATH,
    AudioClassifierFeatures,
    DigitAudioCNN,
)
from genbench.hashing import file_sha256
from genbench.tasks.audio import DigitsAudioTask, digit_set_key
from genbench.tasks.audio_synth import ESpeakNG


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """Optimisation settings (recorded in the metadata)."""

    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    max_shift_seconds: float = 0.1
    gain_db: tuple[float, float] = (-12.0, 0.0)
    noise_dbfs: tuple[float, float] = (-70.0, -35.0)


def augment(
    waveforms: torch.Tensor,
    sample_rate: int,
    settings: TrainingSettings,
    generator: torch.Generator,
) -> torch.Tensor:
    """Random time shift (zero fill), gain and white noise per clip, so the
    embedding does not hinge on the synthetic set's exact levels and timing."""
    count, length = waveforms.shape
    max_shift = round(settings.max_shift_seconds * sample_rate)
    shifts = torch.randint(-max_shift, max_shift + 1, (count,), generator=generator)
    shifted = torch.zeros_like(waveforms)
    for row, shift in enumerate(shifts.tolist()):
        if shift >= 0:
            shifted[row, shift:] = waveforms[row, : length - shift]
        else:
            shifted[row, :shift] = waveforms[row, -shift:]
    low, high = settings.gain_db
    gains = 10.0 ** ((low + (high - low) * torch.rand(count, 1, generator=generator)) / 20.0)
    low, high = settings.noise_dbfs
    noise_levels = 10.0 ** ((low + (high - low) * torch.rand(count, 1, generator=generator)) / 20.0)
    noise = torch.randn(count, length, generator=generator) * noise_levels
    return torch.clamp(shifted * gains + noise, -1.0, 1.0)


def train_classifier(
    waveforms: torch.Tensor,
    labels: torch.Tensor,
    sample_rate: int,
    settings: TrainingSettings,
    log: Callable[[str], None] = print,
) -> DigitAudioCNN:
    """Train a :class:`DigitAudioCNN` on ``(N, T)`` waveforms and integer
    labels with AdamW and a cosine learning-rate schedule; returns it in eval mode."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = DigitAudioCNN(sample_rate=sample_rate, num_samples=waveforms.shape[1])
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    steps_per_epoch = -(-len(waveforms) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=settings.learning_rate,
        total_steps=settings.epochs * steps_per_epoch,
    )
    loss_function = nn.CrossEntropyLoss()
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(len(waveforms), generator=generator)
        total, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            inputs = augment(waveforms[batch], sample_rate, settings, generator)
            logits = model(inputs)
            loss = loss_function(logits, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_sum += loss.item() * len(batch)
            correct += int((logits.argmax(dim=1) == labels[batch]).sum())
            total += len(batch)
        log(
            f"epoch {epoch + 1}/{settings.epochs}: loss {loss_sum / total:.4f}, "
            f"train accuracy (augmented) {correct / total:.4f}"
        )
    return model.eval()


def predict(model: DigitAudioCNN, waveforms: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Predicted digits of ``(N, T)`` waveforms, in eval mode."""
    model.eval()
    with torch.inference_mode():
        return torch.cat(
            [
                model(waveforms[i : i + batch_size]).argmax(dim=1)
                for i in range(0, len(waveforms), batch_size)
            ]
        ).numpy()


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, classes: int = 10) -> np.ndarray:
    """``counts[true, predicted]``."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_classifier(
    model: DigitAudioCNN, metadata: dict[str, Any], weights_path: Path, metadata_path: Path
) -> str:
    """Write the weights (safetensors) and ``metadata`` plus their SHA-256 and
    the architecture (JSON); return the SHA-256."""
    state = {name: t.detach().contiguous().clone() for name, t in model.state_dict().items()}
    _atomic_write(weights_path, lambda tmp: save_file(state, tmp))
    digest = file_sha256(weights_path)
    record = {"sha256": digest, "architecture": model.architecture, **metadata}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    _atomic_write(metadata_path, lambda tmp: Path(tmp).write_text(text))
    return digest


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=TrainingSettings.epochs)
    parser.add_argument("--seed", type=int, default=TrainingSettings.seed)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--metadata", type=Path, default=METADATA_PATH)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = TrainingSettings(epochs=args.epochs, seed=args.seed)

    task = DigitsAudioTask(cache_dir=args.cache_dir)
    data = task.load()
    started = time.perf_counter()
    model = train_classifier(
        data.train, torch.from_numpy(data.train_labels), task.sample_rate, settings
    )
    seconds = time.perf_counter() - started
    metadata = {
        "name": AudioClassifierFeatures.name,
        "task": task.name,
        "data_key": digit_set_key(task.config, ESpeakNG()),
        "task_fingerprint": task.fingerprint(),
        "train_examples": len(data.train),
        "test_examples": len(data.test),
        "training": {
            **dataclasses.asdict(settings),
            "torch": torch.__version__,
            "seconds": round(seconds, 1),
        },
    }
    for split, x, y in (
        ("train", data.train, data.train_labels),
        ("test", data.test, data.test_labels),
    ):
        predicted = predict(model, x)
        metadata[f"{split}_accuracy"] = round(float((predicted == y).mean()), 4)
    matrix = confusion_matrix(predict(model, data.test), data.test_labels)
    metadata["test_confusion"] = matrix.tolist()
    metadata["per_digit_test_accuracy"] = [
        round(float(row[digit] / row.sum()), 4) for digit, row in enumerate(matrix)
    ]
    digest = save_classifier(model, metadata, args.weights, args.metadata)
    print(
        f"test accuracy {metadata['test_accuracy']:.4f} on {len(data.test)} clips "
        f"(train {metadata['train_accuracy']:.4f}); trained in {seconds:.0f} s; "
        f"weights {args.weights} SHA-256 {digest}"
    )


if __name__ == "__main__":
    main()
