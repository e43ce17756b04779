"""WAV files and the on-disk layouts of real spoken-digit datasets.

Three layouts are recognised (``layout="auto"`` picks the one that matches):

* ``"speech-commands"`` — Speech Commands: one folder per word, of which
  ``zero/`` ... ``nine/`` are read (16 kHz, 1 s clips named
  ``<speaker>_nohash_<n>.wav``). When the release's ``testing_list.txt``
  and ``validation_list.txt`` are present their clips form the test and
  holdout splits, the rest the train split; otherwise the split is drawn.
* ``"sc09"`` — the SC09 release: ``train/``, ``valid/`` and ``test/``
  folders of clips named ``<Digit>_<speaker>_nohash_<n>.wav`` (e.g.
  ``Zero_0a7c2a8d_nohash_0.wav``): the train, holdout and test splits.
* ``"fsdd"`` — the Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav``
  files (8 kHz, variable length) in the folder or its ``recordings/``
  subfolder; its documented split puts indices 0-4 in the test set (it has
  no validation set, so no holdout).

Every clip is mixed down to mono, resampled to the requested rate, centred
in (zero-padded to, or cropped to) the requested length and, unless silent,
scaled to a fixed peak like the synthesised set.
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from genbench.features.waveform import fit_length, peak_normalise, resample
from genbench.tasks.audio_synth import DIGIT_WORDS

LAYOUTS: tuple[str, ...] = ("speech-commands", "sc09", "fsdd")
SPLITS: tuple[str, ...] = ("train", "test", "holdout")
"""Split names a layout can assign; a dataset's validation clips are its holdout."""
_FSDD_NAME = re.compile(r"^([0-9])_([^_]+)_([0-9]+)\.wav$", re.IGNORECASE)
_SC09_NAME = re.compile(r"^(" + "|".join(DIGIT_WORDS) + r")_.+\.wav$", re.IGNORECASE)
_FSDD_TEST_INDICES = range(5)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono ``float64`` samples in ``[-1, 1]`` and the sample rate (Hz) of a
    PCM (8/16/24/32-bit) or float WAV file; channels are averaged.

    Raises:
        ValueError: naming the file when it is not a readable WAV.
    """
    try:
        rate, data = wavfile.read(str(path))
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"cannot read WAV file {path}: {error}") from error
    if data.dtype == np.uint8:
        samples = (data.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        samples = data.astype(np.float64) / float(-np.iinfo(data.dtype).min)
    else:
        samples = data.astype(np.float64)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples, int(rate)


def write_wav(path: str | Path, waveform: np.ndarray, sample_rate: int) -> Path:
    """Write a mono 16-bit PCM WAV of ``waveform`` (floats in ``[-1, 1]``,
    clipped to it) with the standard library's :mod:`wave`; return the path.

    Raises:
        ValueError: for a sample rate that is not a positive integer or a
            waveform that is not 1-D.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ValueError(f"sample rate must be a positive integer in Hz, got {sample_rate!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be a positive integer in Hz, got {sample_rate!r}")
    samples = np.asarray(waveform, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"write_wav takes one mono clip (1-D), got shape {samples.shape}")
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    path = Path(path)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(int(sample_rate))
        handle.writeframes(pcm.tobytes())
    return path


@dataclass(frozen=True)
class DigitRecordings:
    """Clips read from a dataset folder.

    Attributes:
        waveforms: ``float32`` ``(N, num_samples)`` in ``[-1, 1]``.
        labels: ``int64`` digits ``(N,)``.
        splits: ``(N,)`` names from :data:`SPLITS` given by the dataset's
            own split, or ``None`` when the folder has none.
        paths: the files, relative to the root, in the same order.
        layout: the layout that was read.
    """

    waveforms: np.ndarray
    labels: np.ndarray
    splits: np.ndarray | None
    paths: tuple[str, ...]
    layout: str


def detect_layout(root: Path) -> str:
    """The layout of ``root`` (see the module docstring).

    Raises:
        ValueError: when ``root`` is not a folder or matches no layout.
    """
    if not root.is_dir():
        raise ValueError(f"spoken-digit folder {root} does not exist or is not a folder")
    if any((root / word).is_dir() for word in DIGIT_WORDS):
        return "speech-commands"
    if (root / "train").is_dir() and (root / "test").is_dir():
        return "sc09"
    if _fsdd_files(root):
        return "fsdd"
    raise ValueError(
        f"no spoken-digit recordings found under {root}: expected word folders zero/ ... nine/ "
        "(Speech Commands), train/ and test/ folders (SC09), or {digit}_{speaker}_{index}.wav "
        "files (Free Spoken Digit Dataset)"
    )


def _fsdd_files(root: Path) -> list[Path]:
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    return sorted(path for path in folder.glob("*.wav") if _FSDD_NAME.match(path.name))


def _list_speech_commands(root: Path) -> list[tuple[Path, int, str]]:
    lists = {
        split: set((root / f"{name}_list.txt").read_text().split())
        for split, name in (("test", "testing"), ("holdout", "validation"))
        if (root / f"{name}_list.txt").is_file()
    }
    entries = []
    for digit, word in enumerate(DIGIT_WORDS):
        for path in sorted((root / word).glob("*.wav")):
            relative = path.relative_to(root).as_posix()
            split = next((name for name, members in lists.items() if relative in members), "train")
            entries.append((path, digit, split if lists else ""))
    return entries


def _list_sc09(root: Path) -> list[tuple[Path, int, str]]:
    entries = []
    for folder, split in (("train", "train"), ("test", "test"), ("valid", "holdout")):
        for path in sorted((root / folder).glob("*.wav")):
            match = _SC09_NAME.match(path.name)
            if not match:
                raise ValueError(
                    f"SC09 file {path} is not named <Digit>_<speaker>_nohash_<n>.wav "
                    "with a digit word from zero to nine"
                )
            entries.append((path, DIGIT_WORDS.index(match.group(1).lower()), split))
    return entries


def _list_fsdd(root: Path) -> list[tuple[Path, int, str]]:
    entries = []
    for path in _fsdd_files(root):
        match = _FSDD_NAME.match(path.name)
        test = int(match.group(3)) in _FSDD_TEST_INDICES
        entries.append((path, int(match.group(1)), "test" if test else "train"))
    return entries


_LISTERS = {
    "speech-commands": _list_speech_commands,
    "sc09": _list_sc09,
    "fsdd": _list_fsdd,
}


def load_digit_folder(
    root: str | Path,
    *,
    layout: str = "auto",
    sample_rate: int = 8000,
    num_samples: int = 8000,
    peak: float = 0.95,
) -> DigitRecordings:
    """Read every digit clip under ``root`` in ``layout`` (``"auto"`` or one
    of :data:`LAYOUTS`), at ``sample_rate`` Hz and ``num_samples`` long.

    Raises:
        ValueError: for an unknown layout, a folder that matches no layout or
            lacks some digit, an unreadable WAV (named), or a bad rate.
    """
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    elif layout not in LAYOUTS:
        raise ValueError(
            f"unknown spoken-digit layout {layout!r}; choose 'auto' or one of {LAYOUTS}"
        )
    elif not root.is_dir():
        raise ValueError(f"spoken-digit folder {root} does not exist or is not a folder")
    entries = _LISTERS[layout](root)
    missing = sorted(set(range(10)) - {digit for _, digit, _ in entries})
    if missing:
        raise ValueError(f"{layout} folder {root} has no recordings of digits {missing}")
    clips = []
    for path, _, _ in entries:
        samples, rate = read_wav(path)
        clip = fit_length(resample(samples, rate, sample_rate), num_samples)
        if np.abs(clip).max() > 0:
            clip = peak_normalise(clip, peak)
        clips.append(clip.astype(np.float32))
    splits = [split for _, _, split in entries]
    return DigitRecordings(
        waveforms=np.stack(clips),
        labels=np.array([digit for _, digit, _ in entries], dtype=np.int64),
        splits=np.array(splits) if all(splits) else None,
        paths=tuple(path.relative_to(root).as_posix() for path, _, _ in entries),
        layout=layout,
    )
