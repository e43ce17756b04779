"""Audio tasks: spoken digits, synthesised offline or read from SC09/FSDD folders.

Data format at the hook boundary (see :mod:`genbench.hookspecs`): samples,
references and reconstructions are ``torch.float32`` waveforms ``N x T`` in
``[-1, 1]`` at ``task.sample_rate``; ``log_likelihood`` receives 8-bit mu-law
codes, ``torch.int64`` ``N x T`` in ``[0, 255]``, so bits per dimension are
bits per audio sample.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from genbench.defaults import default_cache_dir
from genbench.features.waveform import MULAW_LEVELS, mulaw_decode, mulaw_encode
from genbench.tasks.audio_formats import SPLITS, load_digit_folder, write_wav
from genbench.tasks.audio_synth import DigitClips, DigitSynthesisConfig, ESpeakNG, synthesize_digits
from genbench.tasks.base import Task, TaskData
from genbench.tasks.splits import stratified_split

if TYPE_CHECKING:
    from genbench.features.audio_classifier import AudioClassifierFeatures

"""Environment variable naming the cache root (default ``~/.cache/genbench``)."""

DIGIT_SET_FORMAT = 1
"""Version of the clip rendering and the cache file layout; part of the key.
Bump it when either changes, so no stale set is reused."""

PREVIEW_CLIPS = 8


def resolve_cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir`` if given, else ``$GENBENCH_CACHE_DIR``, else ``~/.cache/genbench``."""
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


# --------------------------------------------------------------------------
# The cached synthesised set
# --------------------------------------------------------------------------


def digit_set_key(config: DigitSynthesisConfig, engine: ESpeakNG) -> str:
    """SHA-256 (hex) of everything that determines the synthesised set: the
    generator's parameters, the eSpeak NG version and the loader's version."""
    description = {
        "format": DIGIT_SET_FORMAT,
        "config": dataclasses.asdict(config),
        "espeak_ng": engine.version,
        "espeakng_loader": engine.loader_version,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


_CLIP_FIELDS = tuple(field.name for field in dataclasses.fields(DigitClips))


def load_or_synthesize_digits(
    config: DigitSynthesisConfig,
    cache_dir: str | Path | None = None,
    engine: ESpeakNG | None = None,
) -> tuple[DigitClips, Path]:
    """The digit set for ``config``, read from the cache or synthesised and
    cached (``<root>/audio-digits/<key>.npz``, written atomically, no pickle).

    Returns the clips and the cache file's path. An unreadable cache file is
    rebuilt.
    """
    engine = engine or ESpeakNG()
    key = digit_set_key(config, engine)
    path = resolve_cache_root(cache_dir) / "audio-digits" / f"{key}.npz"
    cached = _read_digit_set(path, key)
    if cached is not None:
        return cached, path
    clips = synthesize_digits(config, engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            arrays = {name: getattr(clips, name) for name in _CLIP_FIELDS}
            np.savez(handle, key=np.array(key), **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return clips, path


def _read_digit_set(path: Path, key: str) -> DigitClips | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) != key:
                return None
            return DigitClips(**{name: stored[name] for name in _CLIP_FIELDS})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # torn or foreign: a miss
        return None


def class_balanced_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of ``range(len(labels))`` whose every prefix is as
    class-balanced as possible: the ``j``-th of a class's ``m`` members (in
    random order) sits at relative position ``(j + 1/2) / m``, ties broken at
    random (the order :func:`~genbench.tasks.splits.stratified_split` gives a
    test split)."""
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(len(labels)), keys))


# --------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------


class _DigitAudioTask(Task):
    """What every spoken-digit task shares: the waveform and mu-law formats,
    the digit classifier's features and the preview."""

    modality: ClassVar[str] = "audio"
    levels: ClassVar[int] = MULAW_LEVELS
    primary_metric: ClassVar[str] = "fad"
    frechet_metric: ClassVar[str] = "fad"
    num_classes: ClassVar[int | None] = 10
    eval_samples: ClassVar[Mapping[str, int]] = {"smoke": 200, "default": 1000, "full": 1000}
    likelihood_examples: ClassVar[Mapping[str, int]] = {
        "smoke": 50,
        "default": 500,
        "full": 1000,
    }

    def __init__(self, sample_rate: int, num_samples: int) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.example_shape = (num_samples,)
        self._features: AudioClassifierFeatures | None = None

    def encode_mulaw(self, waveforms: torch.Tensor) -> torch.Tensor:
        """8-bit mu-law codes (``torch.int64``) of waveforms in ``[-1, 1]``."""
        return mulaw_encode(waveforms, self.levels)

    def decode_mulaw(self, codes: torch.Tensor) -> torch.Tensor:
        """Float32 waveforms of 8-bit mu-law ``codes``."""
        return mulaw_decode(codes, self.levels)

    def likelihood_batch(self, budget: str) -> torch.Tensor:
        """Mu-law codes of the first ``likelihood_examples[budget]`` test clips."""
        return self.encode_mulaw(super().likelihood_batch(budget))

    def shifted_likelihood_batches(self, budget: str) -> dict[str, torch.Tensor]:
        """Mu-law codes of two shifted versions of the likelihood clips:
        ``white_noise``, Gaussian white noise at each clip's RMS (clipped to
        ``[-1, 1]``: the loudness of speech without its structure), and
        ``reversed``, each clip played backwards (the same samples, so the
        same amplitude histogram and spectrum, in an order no speaker
        produces: only a model of temporal structure can tell)."""
        clips = super().likelihood_batch(budget).to(torch.float32)
        rms = clips.pow(2).mean(dim=1, keepdim=True).sqrt()
        draws = self.shift_rng("white_noise").standard_normal(tuple(clips.shape))
        noise = torch.from_numpy(draws.astype(np.float32)) * rms
        return {
            "white_noise": self.encode_mulaw(noise.clamp(-1.0, 1.0)),
            "reversed": self.encode_mulaw(clips.flip(1)),
        }

    def feature_extractor(self) -> AudioClassifierFeatures:
        """The digit classifier's penultimate-layer embedding (FAD, KID, ...)."""
        from genbench.features.audio_classifier import AudioClassifierFeatures

        if self._features is None:
            self._features = AudioClassifierFeatures(input_sample_rate=self.sample_rate)
        return self._features

    def save_preview(self, samples: Any, path: Path) -> Path:
        """Log-mel spectrograms of up to 8 clips in ``<path>.png``, and each of
        those clips as ``<path>-<i>.wav``; returns the PNG's path."""
        return save_waveform_preview(samples, Path(path), self.sample_rate)


HELD_OUT_FRACTIONS = (0.2, 0.2)
"""Shares of each digit's clips in the test and holdout splits when a task
draws its own split (train keeps 60%), as for the image tasks."""


def _split_data(
    waveforms: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    holdout: np.ndarray | None,
) -> TaskData:
    return TaskData(
        train=torch.from_numpy(np.ascontiguousarray(waveforms[train])),
        test=torch.from_numpy(np.ascontiguousarray(waveforms[test])),
        train_labels=labels[train],
        test_labels=labels[test],
        holdout=None if holdout is None else torch.from_numpy(waveforms[holdout]),
        holdout_labels=None if holdout is None else labels[holdout],
    )


class DigitsAudioTask(_DigitAudioTask):
    """Spoken digits 0-9 synthesised offline with eSpeak NG (embedded default).

    Args:
        config: the generator's parameters (default: 5,000 clips, 1 s at
            8 kHz); see :class:`~genbench.tasks.audio_synth.DigitSynthesisConfig`.
        cache_dir: cache root; default ``$GENBENCH_CACHE_DIR`` or
            ``~/.cache/genbench``.
        held_out_fractions: shares of each digit's clips in the test and
            holdout splits (stratified, seeded by ``split_seed``).
    """

    name: ClassVar[str] = "audio/digits"
    description: ClassVar[str] = "spoken digits 0-9 synthesised with eSpeak NG, 1 s at 8 kHz"
    example_shape: ClassVar[tuple[int, ...]] = (8000,)

    def __init__(
        self,
        config: DigitSynthesisConfig | None = None,
        cache_dir: str | Path | None = None,
        held_out_fractions: tuple[float, float] = HELD_OUT_FRACTIONS,
        split_seed: int = 0,
    ) -> None:
        self.config = config or DigitSynthesisConfig()
        super().__init__(self.config.sample_rate, self.config.num_samples)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.held_out_fractions = held_out_fractions
        self.split_seed = split_seed

    def _load(self) -> TaskData:
        clips, _ = load_or_synthesize_digits(self.config, self.cache_dir)
        train, test, holdout = stratified_split(
            clips.labels, self.held_out_fractions, self.split_seed
        )
        return _split_data(clips.waveforms, clips.labels, train, test, holdout)


class DigitsFolderAudioTask(_DigitAudioTask):
    """Real spoken digits read from a Speech Commands, SC09 or FSDD folder.

    The dataset's own split is used where it has one (see
    :mod:`genbench.tasks.audio_formats`): its test clips are the test split,
    its validation clips (if any) the holdout. Otherwise a stratified split
    with ``held_out_fractions`` is drawn.

    Args:
        name: the task's short name; the task is ``"audio/<name>"``.
        root: the dataset folder.
        layout: ``"auto"``, ``"speech-commands"``, ``"sc09"`` or ``"fsdd"``.
        sample_rate: clips are resampled to this rate (Hz) ...
        num_samples: ... and centred in this many samples (1 s by default).
        held_out_fractions, split_seed: the split drawn when the layout has
            none; ``split_seed`` also orders the dataset's own splits.
    """

    example_shape: ClassVar[tuple[int, ...]] = (8000,)

    def __init__(
        self,
        name: str,
        root: str | Path,
        layout: str = "auto",
        sample_rate: int = 8000,
        num_samples: int | None = None,
        held_out_fractions: tuple[float, float] = HELD_OUT_FRACTIONS,
        split_seed: int = 0,
    ) -> None:
        self.name = f"audio/{name}"
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 4000:
            raise ValueError(
                f"sample_rate must be an integer of at least 4000 Hz, got {sample_rate!r}"
            )
        super().__init__(sample_rate, sample_rate if num_samples is None else num_samples)
        self.description = f"spoken digits read from {root}"
        self.root = Path(root)
        self.layout = layout
        self.held_out_fractions = held_out_fractions
        self.split_seed = split_seed

    def _load(self) -> TaskData:
        recordings = load_digit_folder(
            self.root,
            layout=self.layout,
            sample_rate=self.sample_rate,
            num_samples=self.example_shape[0],
        )
        labels = recordings.labels
        if recordings.splits is None:
            train, test, holdout = stratified_split(
                labels, self.held_out_fractions, self.split_seed
            )
            return _split_data(recordings.waveforms, labels, train, test, holdout)
        parts = {name: np.flatnonzero(recordings.splits == name) for name in SPLITS}
        for name in ("train", "test"):
            if len(parts[name]) == 0:
                raise ValueError(
                    f"{recordings.layout} folder {self.root} has an empty {name} split"
                )
        rng = np.random.default_rng(self.split_seed)
        train = rng.permutation(parts["train"])
        test, holdout = (
            parts[name][class_balanced_order(labels[parts[name]], self.split_seed)]
            for name in ("test", "holdout")
        )
        return _split_data(
            recordings.waveforms, labels, train, test, holdout if len(holdout) else None
        )


# --------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------


def save_waveform_preview(samples: Any, path: Path, sample_rate: int) -> Path:
    """Write log-mel spectrograms of the first (up to) 8 clips of ``samples``
    (``N x T`` floats in ``[-1, 1]``) to ``<path>.png`` and the clips to
    ``<path>-<i>.wav``; return the PNG's path."""
    from matplotlib.figure import Figure

    from genbench.features.melspec import LogMelSpectrogram

    clips = torch.as_tensor(samples, dtype=torch.float32)[:PREVIEW_CLIPS]
    if clips.ndim != 2 or len(clips) == 0:
        raise ValueError(
            f"a preview needs waveforms of shape (N, T), N >= 1; got {tuple(clips.shape)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    for index, clip in enumerate(clips):
        write_wav(path.with_name(f"{path.name}-{index}.wav"), clip.numpy(), sample_rate)
    frame = 1 << math.ceil(math.log2(0.032 * sample_rate))  # about 32 ms
    spectrograms = LogMelSpectrogram(sample_rate, n_fft=frame, hop_length=frame // 4)(clips)
    spectrograms = spectrograms.numpy()
    columns = min(4, len(clips))
    rows = -(-len(clips) // columns)
    figure = Figure(figsize=(2.4 * columns, 2.0 * rows))
    duration = clips.shape[1] / sample_rate
    for index, spectrogram in enumerate(spectrograms):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(
            spectrogram,
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=(0.0, duration, 0, spectrogram.shape[0]),
        )
        axes.set_title(f"{index}", fontsize=8)
        axes.set_xlabel("s", fontsize=7)
        axes.set_ylabel("mel band", fontsize=7)
        axes.tick_params(labelsize=6)
    figure.tight_layout()
    png = path.with_name(f"{path.name}.png")
    figure.savefig(png, dpi=80)
    return png
