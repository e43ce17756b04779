"""eSpeak NG through ctypes: reproducible clips, the digit set, its cache and errors."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from genbench.tasks import audio as audio_tasks
from genbench.tasks.audio import digit_set_key, load_or_synthesize_digits, resolve_cache_root
from genbench.tasks.audio_synth import (
    DIGIT_WORDS,
    DigitSynthesisConfig,
    ESpeakError,
    ESpeakNG,
    ESpeakUnavailableError,
    clip_settings,
    synthesize_digits,
    trim_silence,
)

SMALL = DigitSynthesisConfig(clips_per_digit=2, seed=7)
TINY = dataclasses.replace(SMALL, clips_per_digit=1)  # its clips are SMALL's first ten


@pytest.fixture(scope="module")
def engine() -> ESpeakNG:
    return ESpeakNG()


@pytest.fixture(scope="module")
def clips(engine):
    return synthesize_digits(SMALL, engine)


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def test_engine_reports_the_bundled_library(engine):
    assert engine.version.startswith("1.52")
    assert engine.sample_rate == 22050
    assert {"m3", "f2", "klatt4"} <= engine.variants


def test_an_utterance_is_identical_every_time(engine):
    settings = {"voice": "en-us+f3", "rate_wpm": 150, "pitch": 60, "pitch_range": 40}
    first = engine.synthesize("seven", random_seed=3, **settings)
    engine.synthesize("three", voice="en+croak")  # state left by another utterance
    again = engine.synthesize("seven", random_seed=3, **settings)
    assert first.dtype == np.int16
    assert len(first) > 0.3 * engine.sample_rate
    assert first.tobytes() == again.tobytes()


def test_settings_change_the_audio(engine):
    base = engine.synthesize("four", voice="en+m3")
    assert not np.array_equal(base, engine.synthesize("four", voice="en+f2"))
    assert not np.array_equal(base, engine.synthesize("four", voice="en+m3", pitch=80))
    slow = engine.synthesize("four", voice="en+m3", rate_wpm=100)
    fast = engine.synthesize("four", voice="en+m3", rate_wpm=300)
    assert len(slow) > 1.5 * len(fast)


def test_random_seed_drives_breath_noise(engine):
    one = engine.synthesize("six", voice="en+f5", random_seed=1)
    two = engine.synthesize("six", voice="en+f5", random_seed=2)
    assert not np.array_equal(one, two)


def test_the_digit_set_is_deterministic(engine, clips):
    again = synthesize_digits(SMALL, engine)
    assert _sha(clips.waveforms) == _sha(again.waveforms)
    assert clips.waveforms.shape == (20, 8000)
    assert clips.waveforms.dtype == np.float32


def test_a_smaller_set_is_a_prefix_of_a_larger_one(engine, clips):
    first = synthesize_digits(SMALL, engine, count=5)
    np.testing.assert_array_equal(first.waveforms, clips.waveforms[:5])


def test_labels_voices_and_levels(clips):
    np.testing.assert_array_equal(clips.labels, np.arange(20) % 10)
    assert clips.labels.dtype == np.int64
    np.testing.assert_allclose(np.abs(clips.waveforms).max(axis=1), 0.95, rtol=1e-6)
    assert all("+" in voice for voice in clips.voices)
    assert len(set(clips.voices)) > 10
    assert all(120 <= rate <= 260 for rate in clips.rate_wpm)


def test_clips_have_a_noise_floor_and_a_word(clips):
    # The quietest 10 ms frame carries the noise floor (-60..-40 dB), not digital silence.
    frames = clips.waveforms.reshape(20, 100, 80)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=2))
    quietest_db = 20 * np.log10(rms.min(axis=1) / 0.95)
    assert np.all((quietest_db > -63) & (quietest_db < -37))
    assert np.all(rms.max(axis=1) > 0.1)


def test_seeds_give_different_sets(engine):
    other = synthesize_digits(dataclasses.replace(SMALL, seed=8), engine, count=3)
    first = synthesize_digits(SMALL, engine, count=3)
    assert not np.array_equal(other.waveforms, first.waveforms)


def test_clip_settings_stay_within_the_ranges():
    config = DigitSynthesisConfig(rate_wpm=(130, 131), pitch=(40, 40), pitch_range=(0, 5))
    for index in range(30):
        settings = clip_settings(config, index)
        assert settings.digit == index % 10
        assert settings.rate_wpm in (130, 131)
        assert settings.pitch == 40
        assert 0 <= settings.pitch_range <= 5
        assert 0.0 <= settings.onset_fraction < 1.0
        assert -60.0 <= settings.noise_dbfs <= -40.0
    assert clip_settings(config, 3) == clip_settings(config, 3)


def test_trim_silence():
    x = np.array([0.0, 0.0, 1e-5, 0.5, -1.0, 0.2, 0.0])
    np.testing.assert_array_equal(trim_silence(x), [0.5, -1.0, 0.2])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"clips_per_digit": 0}, "clips_per_digit must be >= 1"),
        ({"sample_rate": 2000}, "at least 4000 Hz"),
        ({"rate_wpm": (300, 200)}, r"rate_wpm must be an increasing pair within \[80, 450\]"),
        ({"pitch": (0, 120)}, r"pitch must be an increasing pair within \[0, 100\]"),
        ({"noise_dbfs": (-40.0, 3.0)}, "noise_dbfs must be an increasing pair below 0"),
        ({"peak": 0.0}, r"peak must be in \(0, 1\]"),
        ({"variants": ()}, "at least one voice part"),
    ],
)
def test_config_rejects_bad_parameters(changes, match):
    with pytest.raises(ValueError, match=match):
        DigitSynthesisConfig(**changes)


def test_count_is_checked(engine):
    with pytest.raises(ValueError, match=r"count must be in \[1, 20\]"):
        synthesize_digits(SMALL, engine, count=21)


def test_unknown_voices_are_errors(engine):
    with pytest.raises(ESpeakError, match="has no voice 'xx-nowhere'"):
        engine.synthesize("one", voice="xx-nowhere")
    # eSpeak itself would fall back to plain "en" here, silently.
    with pytest.raises(ESpeakError, match="no voice variant 'nobody'"):
        engine.synthesize("one", voice="en+nobody")


def test_missing_package_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(ESpeakUnavailableError, match="pip install espeakng-loader"):
        ESpeakNG()


def test_missing_library_file_is_reported(engine, tmp_path):
    with pytest.raises(ESpeakUnavailableError, match="library not found"):
        ESpeakNG(library_path=tmp_path / "libespeak-ng.so", data_path=engine.data_path)


def test_a_file_that_is_not_a_library_is_reported(engine, tmp_path):
    fake = tmp_path / "libespeak-ng.so"
    fake.write_bytes(b"not a shared object")
    with pytest.raises(ESpeakUnavailableError, match="cannot load the eSpeak NG library"):
        ESpeakNG(library_path=fake, data_path=engine.data_path)


def test_a_bad_data_folder_is_reported(engine, tmp_path):
    with pytest.raises(ESpeakUnavailableError, match="has no 'phontab'"):
        ESpeakNG(library_path=engine.library_path, data_path=tmp_path)


# -- the cache ----------------------------------------------------------------


def test_cache_key_changes_with_parameters_and_library(engine):
    key = digit_set_key(SMALL, engine)
    assert key == digit_set_key(DigitSynthesisConfig(clips_per_digit=2, seed=7), engine)
    for changes in ({"seed": 8}, {"clips_per_digit": 3}, {"sample_rate": 16000}, {"peak": 0.9}):
        assert digit_set_key(dataclasses.replace(SMALL, **changes), engine) != key
    for version, loader in (("1.51", engine.loader_version), (engine.version, "0.0.1")):
        other = SimpleNamespace(version=version, loader_version=loader)
        assert digit_set_key(SMALL, other) != key


def test_cache_round_trip_and_reuse(engine, clips, tmp_path, monkeypatch):
    first, path = load_or_synthesize_digits(TINY, tmp_path, engine)
    assert path.parent == tmp_path / "audio-digits"
    assert path.name == f"{digit_set_key(TINY, engine)}.npz"
    assert _sha(first.waveforms) == _sha(clips.waveforms[:10])
    assert not list(path.parent.glob("*.tmp"))

    def refuse(*args, **kwargs):
        raise AssertionError("the cached set should have been read")

    monkeypatch.setattr(audio_tasks, "synthesize_digits", refuse)
    cached, _ = load_or_synthesize_digits(TINY, tmp_path, engine)
    np.testing.assert_array_equal(cached.waveforms, clips.waveforms[:10])
    np.testing.assert_array_equal(cached.voices, clips.voices[:10])
    with np.load(path, allow_pickle=False) as stored:  # no object arrays inside
        assert set(stored.files) >= {"key", "waveforms", "labels", "voices"}

    monkeypatch.undo()
    path.write_bytes(path.read_bytes()[:1000])  # a torn file is a cache miss
    rebuilt, _ = load_or_synthesize_digits(TINY, tmp_path, engine)
    np.testing.assert_array_equal(rebuilt.waveforms, clips.waveforms[:10])


def test_cache_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("GENBENCH_CACHE_DIR", str(tmp_path / "env"))
    assert resolve_cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_cache_root() == tmp_path / "env"
    monkeypatch.delenv("GENBENCH_CACHE_DIR")
    assert resolve_cache_root() == Path.home() / ".cache" / "genbench"


def test_digit_words():
    assert DIGIT_WORDS[0] == "zero" and DIGIT_WORDS[9] == "nine" and len(DIGIT_WORDS) == 10
