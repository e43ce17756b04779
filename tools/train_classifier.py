"""Train an in-domain digit classifier and write its committed weights.

Usage (from the repository root)::

    python tools/train_classifier.py --task image/mnist
    python tools/train_classifier.py --task image/digits

Trains on the task's train split only (seeded; CPU; a minute or two), with
a fixed recipe and no model selection on the test split, which is used once
at the end to measure accuracy. Writes ``<key>.safetensors`` and
``<key>.json`` (architecture, recipe, test accuracy, task fingerprint and
the weights file's SHA-256) to ``genbench/features/weights/``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from genbench.features.classifier import (
    WEIGHTS_DIR,
    ClassifierArchitecture,
    ClassifierFeatures,
    DigitClassifier,
    weights_paths,
)
from genbench.hashing import file_sha256
from genbench.tasks.image import ClassifierImageTask, DigitsTask, MnistTask


@dataclass(frozen=True)
class TrainingRecipe:
    """How one classifier is trained.

    Attributes:
        pooled_size: side of the pool before the feature layer (3 for 28x28
            inputs, 2 for 8x8).
        epochs: passes over the train split.
        max_shift: training images are translated by up to this many pixels
            in each direction (zero fill); the only augmentation.
        batch_size, learning_rate, weight_decay: AdamW with a one-cycle
            learning-rate schedule peaking at ``learning_rate``.
        seed: seeds initialisation, dropout, data order and augmentation.
    """

    pooled_size: int
    epochs: int
    max_shift: int
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0


RECIPES: dict[str, tuple[type[ClassifierImageTask], TrainingRecipe]] = {
    MnistTask.name: (MnistTask, TrainingRecipe(pooled_size=3, epochs=25, max_shift=2)),
    DigitsTask.name: (DigitsTask, TrainingRecipe(pooled_size=2, epochs=40, max_shift=1)),
}
"""The tasks with committed classifiers and the recipe of each."""


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by independent integer offsets in
    ``[-max_shift, max_shift]`` along both axes, filling with zeros."""
    if max_shift == 0:
        return images
    _, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), generator=generator)
    return torch.stack(
        [
            padded[i, :, top : top + height, left : left + width]
            for i, (top, left) in enumerate(offsets.tolist())
        ]
    )


def accuracy(model: DigitClassifier, images: torch.Tensor, labels: np.ndarray) -> float:
    """Fraction of ``images`` whose arg-max class equals ``labels``."""
    model.eval()
    with torch.inference_mode():
        predicted = torch.cat([model(batch).argmax(1) for batch in images.split(500)])
    return float((predicted.numpy() == labels).mean())


def train(task: ClassifierImageTask, recipe: TrainingRecipe) -> tuple[DigitClassifier, float]:
    """Train a :class:`DigitClassifier` on ``task``'s train split; return the
    model (in eval mode) and the seconds spent training."""
    data = task.load()
    channels, height, width = task.example_shape
    architecture = ClassifierArchitecture(
        in_channels=channels,
        height=height,
        width=width,
        levels=task.levels,
        num_classes=int(data.train_labels.max()) + 1,
        pooled_size=recipe.pooled_size,
    )
    images, labels = data.train, torch.from_numpy(data.train_labels)
    generator = torch.Generator().manual_seed(recipe.seed)
    steps_per_epoch = -(-len(images) // recipe.batch_size)
    start = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(recipe.seed)
        model = DigitClassifier(architecture)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.learning_rate, total_steps=recipe.epochs * steps_per_epoch
        )
        model.train()
        for _ in range(recipe.epochs):
            for batch in torch.randperm(len(images), generator=generator).split(recipe.batch_size):
                x = random_shift(images[batch], recipe.max_shift, generator)
                loss = F.cross_entropy(model(x), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
    model.eval()
    return model, time.perf_counter() - start


def write_weights(
    model: DigitClassifier, key: str, metadata: dict[str, Any], out_dir: Path
) -> dict[str, Any]:
    """Write ``<key>.safetensors`` and ``<key>.json`` (``metadata`` plus the
    architecture, file name and SHA-256); return the full metadata."""
    weights_path, metadata_path = weights_paths(key, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, weights_path)
    record = {
        **metadata,
        "architecture": model.architecture.to_dict(),
        "weights_file": weights_path.name,
        "weights_sha256": file_sha256(weights_path),
    }
    metadata_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def train_and_write(
    task_name: str, *, out_dir: Path = WEIGHTS_DIR, epochs: int | None = None
) -> dict[str, Any]:
    """Train the classifier for ``task_name`` with its recipe (``epochs``
    overrides the recipe's), measure its test accuracy, write the weights and
    metadata to ``out_dir`` and return the metadata."""
    if task_name not in RECIPES:
        raise ValueError(f"no classifier recipe for task {task_name!r}; known: {list(RECIPES)}")
    task_class, recipe = RECIPES[task_name]
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    task = task_class()
    model, seconds = train(task, recipe)
    data = task.load()
    metadata = {
        "task": task.name,
        "task_fingerprint": task.fingerprint(),
        "recipe": asdict(recipe),
        "n_train": len(data.train),
        "n_test": len(data.test),
        "train_accuracy": accuracy(model, data.train, data.train_labels),
        "test_accuracy": accuracy(model, data.test, data.test_labels),
        "train_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
    }
    return write_weights(model, task.classifier_key, metadata, out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=sorted(RECIPES))
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    record = train_and_write(args.task, out_dir=args.out_dir, epochs=args.epochs)
    key = RECIPES[args.task][0].classifier_key
    ClassifierFeatures(key, weights_dir=args.out_dir)  # the written files load and verify
    print(
        f"{args.task}: test accuracy {record['test_accuracy']:.4f} on {record['n_test']} images, "
        f"train accuracy {record['train_accuracy']:.4f}, {record['train_seconds']} s; "
        f"wrote {args.out_dir / record['weights_file']} (sha256 {record['weights_sha256'][:12]})"
    )


if __name__ == "__main__":
    main()
