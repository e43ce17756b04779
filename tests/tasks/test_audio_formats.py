"""WAV reading/writing and the Speech Commands, SC09 and FSDD folder loaders,
on small folders of WAV files written here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from genbench.tasks.audio import DigitsFolderAudioTask
from genbench.tasks.audio_formats import detect_layout, load_digit_folder, read_wav, write_wav
from genbench.tasks.audio_synth import DIGIT_WORDS


def _tone(digit: int, rate: int, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    """A tone whose frequency names the digit: 300 + 100 * digit Hz."""
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * math.pi * (300 + 100 * digit) * t)


def _frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


# -- WAV files -----------------------------------------------------------------


def test_write_then_read_16_bit(tmp_path):
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0])
    path = write_wav(tmp_path / "a.wav", x, 8000)
    samples, rate = read_wav(path)
    assert rate == 8000
    np.testing.assert_allclose(
        samples, [0, 0.5, -0.5, 32767 / 32768, -32767 / 32768, 32767 / 32768], atol=1 / 32768
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (np.array([128, 192, 64], dtype=np.uint8), [0.0, 0.5, -0.5]),
        (np.array([0, 2**30, -(2**31)], dtype=np.int32), [0.0, 0.5, -1.0]),
        (np.array([0.25, -0.75], dtype=np.float32), [0.25, -0.75]),
        (np.array([[0.2, 0.4], [-0.2, 0.0]], dtype=np.float32), [0.3, -0.1]),  # stereo: mean
    ],
)
def test_read_other_sample_formats(tmp_path, data, expected):
    wavfile.write(tmp_path / "x.wav", 16000, data)
    samples, rate = read_wav(tmp_path / "x.wav")
    assert rate == 16000
    np.testing.assert_allclose(samples, expected, atol=1e-7)


def test_read_rejects_a_file_that_is_not_a_wav(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF nonsense")
    with pytest.raises(ValueError, match=r"cannot read WAV file .*broken\.wav"):
        read_wav(bad)


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="sample rate must be a positive integer"):
        write_wav(tmp_path / "a.wav", np.zeros(4), 0)
    with pytest.raises(ValueError, match="sample rate must be a positive integer"):
        write_wav(tmp_path / "a.wav", np.zeros(4), 8000.0)
    with pytest.raises(ValueError, match=r"one mono clip \(1-D\)"):
        write_wav(tmp_path / "a.wav", np.zeros((2, 4)), 8000)


# -- folder layouts --------------------------------------------------------------


def _speech_commands(root: Path, with_lists: bool) -> None:
    for digit, word in enumerate(DIGIT_WORDS):
        (root / word).mkdir(parents=True)
        for speaker in ("aaaa1111", "bbbb2222", "cccc3333"):
            write_wav(root / word / f"{speaker}_nohash_0.wav", _tone(digit, 16000, 1.0), 16000)
    (root / "yes").mkdir()
    write_wav(root / "yes" / "aaaa1111_nohash_0.wav", _tone(0, 16000, 1.0), 16000)
    if with_lists:
        (root / "testing_list.txt").write_text(
            "\n".join(f"{word}/cccc3333_nohash_0.wav" for word in DIGIT_WORDS) + "\n"
        )
        (root / "validation_list.txt").write_text("zero/bbbb2222_nohash_0.wav\n")


def test_speech_commands_folders_with_the_official_lists(tmp_path):
    _speech_commands(tmp_path, with_lists=True)
    assert detect_layout(tmp_path) == "speech-commands"
    recordings = load_digit_folder(tmp_path)
    assert recordings.layout == "speech-commands"
    assert recordings.waveforms.shape == (30, 8000)
    assert recordings.waveforms.dtype == np.float32
    assert not any(path.startswith("yes/") for path in recordings.paths)
    assert (recordings.splits == "test").sum() == 10
    assert recordings.splits[recordings.paths.index("zero/bbbb2222_nohash_0.wav")] == "holdout"
    assert (recordings.splits == "train").sum() == 19
    for waveform, label, path in zip(
        recordings.waveforms, recordings.labels, recordings.paths, strict=True
    ):
        assert path.startswith(DIGIT_WORDS[label] + "/")
        assert _frequency(waveform, 8000) == pytest.approx(300 + 100 * label, abs=2)
    np.testing.assert_allclose(np.abs(recordings.waveforms).max(axis=1), 0.95, rtol=1e-3)


def test_speech_commands_without_lists_has_no_split(tmp_path):
    _speech_commands(tmp_path, with_lists=False)
    recordings = load_digit_folder(
        tmp_path, layout="speech-commands", sample_rate=16000, num_samples=16000
    )
    assert recordings.splits is None
    assert recordings.waveforms.shape == (30, 16000)
    assert np.bincount(recordings.labels).tolist() == [3] * 10


def test_sc09_release_folders(tmp_path):
    for split, speakers in (("train", ("a1", "b2")), ("valid", ("c3",)), ("test", ("d4",))):
        (tmp_path / split).mkdir()
        for digit, word in enumerate(DIGIT_WORDS):
            for speaker in speakers:
                name = f"{word.capitalize()}_{speaker}_nohash_0.wav"
                write_wav(tmp_path / split / name, _tone(digit, 16000, 1.0), 16000)
    assert detect_layout(tmp_path) == "sc09"
    recordings = load_digit_folder(tmp_path)
    assert recordings.waveforms.shape == (40, 8000)
    assert (recordings.splits == "train").sum() == 20
    assert (recordings.splits == "test").sum() == 10
    assert all(
        (split == "holdout") == path.startswith("valid/")
        for split, path in zip(recordings.splits, recordings.paths, strict=True)
    )
    for waveform, label in zip(recordings.waveforms, recordings.labels, strict=True):
        assert _frequency(waveform, 8000) == pytest.approx(300 + 100 * label, abs=2)


def test_sc09_rejects_a_misnamed_file(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
    write_wav(tmp_path / "train" / "Eleven_a1_nohash_0.wav", _tone(0, 16000, 1.0), 16000)
    with pytest.raises(ValueError, match=r"Eleven_a1_nohash_0\.wav is not named <Digit>_"):
        load_digit_folder(tmp_path)


def _fsdd(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        for index in (0, 1, 7):
            clip = _tone(digit, 8000, 0.25 + 0.05 * index)
            write_wav(folder / f"{digit}_jackson_{index}.wav", clip, 8000)


def test_fsdd_recordings_are_centred_and_split_by_index(tmp_path):
    _fsdd(tmp_path / "recordings")
    assert detect_layout(tmp_path) == "fsdd"
    recordings = load_digit_folder(tmp_path)
    assert recordings.waveforms.shape == (30, 8000)
    assert recordings.paths[0].startswith("recordings/")
    indices = [int(Path(path).stem.split("_")[2]) for path in recordings.paths]
    expected = ["test" if index < 5 else "train" for index in indices]
    assert recordings.splits.tolist() == expected
    # A 0.25 s clip (2000 samples) is centred in the 1 s window: 3000 zeros each side.
    first = recordings.paths.index("recordings/0_jackson_0.wav")
    clip = recordings.waveforms[first]
    assert not clip[:3000].any() and not clip[5000:].any()
    assert np.abs(clip[3000:5000]).max() == pytest.approx(0.95, rel=1e-4)


def test_fsdd_longer_clips_are_cropped_in_the_middle(tmp_path):
    _fsdd(tmp_path)
    write_wav(tmp_path / "3_long_9.wav", np.linspace(-0.5, 0.5, 12000), 8000)
    recordings = load_digit_folder(tmp_path, layout="fsdd", peak=0.5)
    clip = recordings.waveforms[recordings.paths.index("3_long_9.wav")]
    middle = np.linspace(-0.5, 0.5, 12000)[2000:10000]
    np.testing.assert_allclose(clip, middle * (0.5 / np.abs(middle).max()), atol=1e-4)


@pytest.mark.parametrize(
    ("setup", "layout", "match"),
    [
        (lambda root: None, "auto", "no spoken-digit recordings found under"),
        (lambda root: (root / "notes.txt").write_text("x"), "auto", "expected word folders"),
        (lambda root: _fsdd(root), "wav", "unknown spoken-digit layout 'wav'"),
        (
            lambda root: [_fsdd(root), *(p.unlink() for p in root.glob("4_*.wav"))],
            "fsdd",
            r"has no recordings of digits \[4\]",
        ),
    ],
)
def test_folder_errors(tmp_path, setup, layout, match):
    setup(tmp_path)
    with pytest.raises(ValueError, match=match):
        load_digit_folder(tmp_path, layout=layout)


def test_a_missing_folder_is_reported(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not a folder"):
        load_digit_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="does not exist or is not a folder"):
        load_digit_folder(tmp_path / "nowhere", layout="fsdd")


def test_an_unreadable_clip_is_named(tmp_path):
    _fsdd(tmp_path)
    (tmp_path / "5_jackson_1.wav").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"cannot read WAV file .*5_jackson_1\.wav"):
        load_digit_folder(tmp_path)


# -- the folder task --------------------------------------------------------------


def test_folder_task_uses_the_official_split(tmp_path):
    _fsdd(tmp_path)
    task = DigitsFolderAudioTask("fsdd-sample", tmp_path)
    assert task.name == "audio/fsdd-sample"
    assert task.modality == "audio" and task.levels == 256
    assert task.example_shape == (8000,) and task.sample_rate == 8000
    data = task.load()
    assert data.train.shape == (10, 8000) and data.test.shape == (20, 8000)
    assert data.holdout is None  # FSDD has no validation set
    assert data.train.dtype == torch.float32
    assert sorted(data.test_labels[:10].tolist()) == list(range(10))  # balanced prefix
    codes = task.likelihood_batch("smoke")
    assert codes.dtype == torch.int64 and codes.shape == (20, 8000)
    assert torch.equal(codes, task.encode_mulaw(data.test))


def test_folder_task_holds_out_the_validation_clips(tmp_path):
    _speech_commands(tmp_path, with_lists=True)
    data = DigitsFolderAudioTask("speech", tmp_path).load()
    assert data.train.shape == (19, 8000) and data.test.shape == (10, 8000)
    assert data.holdout.shape == (1, 8000)


def test_folder_task_draws_a_stratified_split_when_the_layout_has_none(tmp_path):
    _speech_commands(tmp_path, with_lists=False)
    task = DigitsFolderAudioTask("sc", tmp_path, sample_rate=16000)
    data = task.load()
    assert data.train.shape == (10, 16000) and data.test.shape == (10, 16000)
    assert data.holdout.shape == (10, 16000)
    assert sorted(data.test_labels.tolist()) == list(range(10))


def test_folder_task_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="sample_rate must be an integer of at least 4000 Hz"):
        DigitsFolderAudioTask("low", tmp_path, sample_rate=2000)
    with pytest.raises(ValueError, match="sample_rate must be an integer of at least 4000 Hz"):
        DigitsFolderAudioTask("float", tmp_path, sample_rate=8000.0)
    with pytest.raises(ValueError, match="must not contain a path separator"):
        DigitsFolderAudioTask("a/b", tmp_path)
