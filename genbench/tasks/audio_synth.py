"""Offline speech synthesis with eSpeak NG, and the spoken-digit clips made with it.

The ``espeakng-loader`` wheel bundles ``libespeak-ng`` and its voice data;
this module drives the library's C API through :mod:`ctypes` in synchronous
mode, collecting 16-bit samples in a callback. No system package, network
access or subprocess is involved.

eSpeak NG keeps state between utterances in static variables (pitch
flutter, wave-generator phase, random noise), so the same text spoken twice
in one process gives different samples. :class:`ESpeakNG` therefore loads a
private copy of the library for each utterance and unloads it afterwards:
every utterance starts from a freshly initialised library and is a pure
function of its text, voice, prosody settings and random seed.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import importlib
import importlib.metadata
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genbench.features.waveform import peak_normalise, resample
from genbench.hashing import derive_seed

# Constants of eSpeak NG's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_DONT_EXIT = 0x8000  # espeakINITIALIZE_DONT_EXIT: report errors, never exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMETERS = {"rate": 1, "pitch": 3, "range": 4}
_EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class ESpeakUnavailableError(RuntimeError):
    """eSpeak NG cannot be loaded or initialised."""


class ESpeakError(RuntimeError):
    """eSpeak NG rejected a request (unknown voice, failed synthesis...)."""


def _bundled_paths() -> tuple[Path, Path]:
    try:
        loader = importlib.import_module("espeakng_loader")
    except ImportError as error:
        raise ESpeakUnavailableError(
            "eSpeak NG is not available: the audio/digits task synthesises its clips with "
            "the library bundled in the 'espeakng-loader' wheel; run `pip install espeakng-loader`"
        ) from error
    return Path(loader.get_library_path()), Path(loader.get_data_path())


def _loader_version() -> str:
    try:
        return importlib.metadata.version("espeakng-loader")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _unload(library: ctypes.CDLL) -> None:
    close = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary
    close(library._handle)


class ESpeakNG:
    """eSpeak NG's C API, one freshly loaded library instance per utterance.

    Args:
        library_path: ``libespeak-ng`` to load; default: the one bundled in
            ``espeakng-loader``.
        data_path: the ``espeak-ng-data`` folder; default: the bundled one.

    Attributes:
        version: the library's version string (``espeak_Info``), e.g. ``"1.52.0"``.
        loader_version: the ``espeakng-loader`` distribution's version, or
            ``"unknown"`` when the library did not come from it.
        sample_rate: rate of the samples :meth:`synthesize` returns, in Hz.
        variants: names of the voice variants in the data folder (``"m3"``...).

    Raises:
        ESpeakUnavailableError: when the package is missing, a path does not
            exist, the library does not load or initialise, or it keeps state
            across an unload (so outputs would not be reproducible).
    """

    def __init__(
        self, library_path: str | Path | None = None, data_path: str | Path | None = None
    ) -> None:
        if library_path is None or data_path is None:
            bundled_library, bundled_data = _bundled_paths()
            library_path = library_path or bundled_library
            data_path = data_path or bundled_data
        self.library_path = Path(library_path)
        self.data_path = Path(data_path)
        if not self.library_path.is_file():
            raise ESpeakUnavailableError(f"eSpeak NG library not found at {self.library_path}")
        if not (self.data_path / "phontab").is_file():
            raise ESpeakUnavailableError(
                f"eSpeak NG data folder {self.data_path} has no 'phontab': not an espeak-ng-data "
                "folder"
            )
        # No other code in the process can hold this private copy open, so
        # unloading it after each utterance really discards its state.
        workdir = tempfile.mkdtemp(prefix="genbench-espeak-")
        self._finalizer = weakref.finalize(self, shutil.rmtree, workdir, True)
        self._private_library = Path(workdir) / "libespeak-ng-private.so"
        shutil.copyfile(self.library_path, self._private_library)
        self._lock = threading.Lock()
        self.loader_version = _loader_version()
        variant_folder = self.data_path / "voices" / "!v"
        self.variants = frozenset(path.name for path in variant_folder.glob("*") if path.is_file())
        with self._fresh_library() as (library, rate):
            library.espeak_Info.restype = ctypes.c_char_p
            library.espeak_Info.argtypes = [ctypes.c_void_p]
            self.version: str = library.espeak_Info(None).decode()
            self.sample_rate: int = rate
        self._check_fresh_state()

    def synthesize(
        self,
        text: str,
        *,
        voice: str = "en",
        rate_wpm: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        random_seed: int = 0,
    ) -> np.ndarray:
        """Speak ``text``; return its ``int16`` samples at :attr:`sample_rate`.

        Args:
            voice: eSpeak voice name, a language with an optional variant,
                e.g. ``"en-us+f3"``.
            rate_wpm: speaking rate in words per minute (80-450).
            pitch: base pitch, 0-100 (50 is the voice's own).
            pitch_range: pitch variation, 0-100 (0 is monotone).
            random_seed: seeds eSpeak's noise generator (breath, aspiration).

        The output is the same, byte for byte, for the same arguments.

        Raises:
            ESpeakError: for an unknown voice, a rejected setting or a failed
                synthesis.
        """
        _language, _, variant = voice.partition("+")
        if variant and variant not in self.variants:
            # eSpeak silently falls back to the plain language for an unknown variant.
            raise ESpeakError(f"eSpeak NG has no voice variant {variant!r} (in voice {voice!r})")
        settings = {"rate": rate_wpm, "pitch": pitch, "range": pitch_range}
        with self._fresh_library() as (library, _):
            library.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            library.espeak_ng_SetRandSeed(int(random_seed) % 2**31)
            chunks: list[np.ndarray] = []

            def collect(wav, count, _events):  # called by eSpeak from espeak_Synth
                if wav and count > 0:
                    chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
                return 0

            callback = _SynthCallback(collect)
            library.espeak_SetSynthCallback(callback)
            library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            if library.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise ESpeakError(f"eSpeak NG has no voice {voice!r}")
            library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            for name, value in settings.items():
                if library.espeak_SetParameter(_PARAMETERS[name], int(value), 0) != _EE_OK:
                    raise ESpeakError(f"eSpeak NG rejected {name}={value}")
            encoded = text.encode() + b"\0"
            library.espeak_Synth.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            status = library.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != _EE_OK:
                raise ESpeakError(f"eSpeak NG failed to speak {text!r} (status {status})")
            library.espeak_Synchronize()
        if not chunks:
            raise ESpeakError(f"eSpeak NG produced no audio for {text!r} with voice {voice!r}")
        return np.concatenate(chunks).astype(np.int16, copy=False)

    @contextlib.contextmanager
    def _fresh_library(self) -> Iterator[tuple[ctypes.CDLL, int]]:
        """Load and initialise the private library copy; terminate and unload
        it on exit. Yields the library and its output sample rate."""
        with self._lock:
            try:
                library = ctypes.CDLL(str(self._private_library))
            except OSError as error:
                raise ESpeakUnavailableError(
                    f"cannot load the eSpeak NG library {self.library_path}: {error}"
                ) from error
            try:
                library.espeak_Initialize.argtypes = [
                    ctypes.c_int,
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_int,
                ]
                rate = library.espeak_Initialize(
                    _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), _DONT_EXIT
                )
                if rate <= 0:
                    raise ESpeakUnavailableError(
                        f"eSpeak NG failed to initialise with data {self.data_path} (status {rate})"
                    )
                try:
                    yield library, rate
                finally:
                    library.espeak_Terminate()
            finally:
                _unload(library)

    def _check_fresh_state(self) -> None:
        first = self.synthesize("zero", voice="en")
        second = self.synthesize("zero", voice="en")
        if not np.array_equal(first, second):
            raise ESpeakUnavailableError(
                f"eSpeak NG at {self.library_path} keeps its state after being unloaded on this "
                "platform, so its output would depend on what was spoken before"
            )


# --------------------------------------------------------------------------
# Spoken digits
# --------------------------------------------------------------------------

# fmt: off
DIGIT_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)

DEFAULT_ACCENTS: tuple[str, ...] = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)
"""English accents of eSpeak NG; each clip draws one."""

DEFAULT_VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "Andy", "Gene", "Jacky", "Michael", "Mike",
    "iven", "john", "paul", "quincy", "robert", "travis", "victor", "david", "benjamin",
    "edward", "grandpa", "croak",
    "f1", "f2", "f3", "f4", "f5", "Andrea", "Annie", "anika", "belinda", "linda", "steph",
    "shelby", "grandma", "aunty",
    "klatt", "klatt2", "klatt3", "klatt4",
)
"""Voice variants (speaker characters, male, female and Klatt-synthesised);
each clip draws one. Robotic, echoing and whispering variants are left out."""
# fmt: on

SILENCE_THRESHOLD = 1e-3
"""Samples quieter than this fraction of a clip's peak, before its first and
after its last louder sample, are eSpeak's leading and trailing silence."""


@dataclass(frozen=True)
class DigitSynthesisConfig:
    """Everything that determines the synthesised digit set (and its cache key).

    Clip ``i`` speaks digit ``i % 10``; its voice and prosody are drawn from
    the ranges below with a generator seeded by ``(seed, i)`` only, so a
    smaller set is a prefix of a larger one with the same seed.

    Attributes:
        clips_per_digit: clips of each digit; the set has ``10 *`` that many.
        sample_rate: output rate in Hz.
        num_samples: clip length in samples (``sample_rate`` = 1 s).
        seed: seeds every draw.
        accents, variants: eSpeak voice = ``f"{accent}+{variant}"``.
        rate_wpm: speaking rate range (inclusive), words per minute.
        pitch: eSpeak base pitch range (inclusive), 0-100.
        pitch_range: eSpeak pitch-variation range (inclusive), 0-100.
        noise_dbfs: range of the background noise's RMS, dB relative to the
            speech peak (white Gaussian noise, as a recording's noise floor).
        peak: every clip is scaled to this peak absolute amplitude.
    """

    clips_per_digit: int = 500
    sample_rate: int = 8000
    num_samples: int = 8000
    seed: int = 0
    accents: tuple[str, ...] = DEFAULT_ACCENTS
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    rate_wpm: tuple[int, int] = (120, 260)
    pitch: tuple[int, int] = (20, 80)
    pitch_range: tuple[int, int] = (20, 90)
    noise_dbfs: tuple[float, float] = (-60.0, -40.0)
    peak: float = 0.95

    def __post_init__(self) -> None:
        if self.clips_per_digit < 1:
            raise ValueError(f"clips_per_digit must be >= 1, got {self.clips_per_digit}")
        if self.sample_rate < 4000:
            raise ValueError(
                f"sample_rate must be at least 4000 Hz for speech, got {self.sample_rate}"
            )
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if not self.accents or not self.variants:
            raise ValueError("accents and variants must each name at least one voice part")
        for name, (low, high), (lowest, highest) in (
            ("rate_wpm", self.rate_wpm, (80, 450)),
            ("pitch", self.pitch, (0, 100)),
            ("pitch_range", self.pitch_range, (0, 100)),
        ):
            if not lowest <= low <= high <= highest:
                raise ValueError(
                    f"{name} must be an increasing pair within [{lowest}, {highest}], "
                    f"got {(low, high)}"
                )
        if not self.noise_dbfs[0] <= self.noise_dbfs[1] < 0:
            raise ValueError(
                f"noise_dbfs must be an increasing pair below 0, got {self.noise_dbfs}"
            )
        if not 0 < self.peak <= 1:
            raise ValueError(f"peak must be in (0, 1], got {self.peak}")

    @property
    def num_clips(self) -> int:
        return 10 * self.clips_per_digit


@dataclass(frozen=True)
class ClipSettings:
    """The draws that define one clip."""

    index: int
    digit: int
    voice: str
    rate_wpm: int
    pitch: int
    pitch_range: int
    onset_fraction: float
    noise_dbfs: float
    espeak_seed: int
    noise_seed: int


def clip_settings(config: DigitSynthesisConfig, index: int) -> ClipSettings:
    """Draw clip ``index``'s settings from a generator seeded by ``(config.seed, index)``."""
    rng = np.random.default_rng(derive_seed(config.seed, "audio/digits", "clip", index))
    accent = config.accents[int(rng.integers(len(config.accents)))]
    variant = config.variants[int(rng.integers(len(config.variants)))]
    return ClipSettings(
        index=index,
        digit=index % 10,
        voice=f"{accent}+{variant}",
        rate_wpm=int(rng.integers(config.rate_wpm[0], config.rate_wpm[1] + 1)),
        pitch=int(rng.integers(config.pitch[0], config.pitch[1] + 1)),
        pitch_range=int(rng.integers(config.pitch_range[0], config.pitch_range[1] + 1)),
        onset_fraction=float(rng.random()),
        noise_dbfs=float(rng.uniform(*config.noise_dbfs)),
        espeak_seed=int(rng.integers(2**31)),
        noise_seed=int(rng.integers(2**63)),
    )


def trim_silence(x: np.ndarray, threshold: float = SILENCE_THRESHOLD) -> np.ndarray:
    """``x`` without the leading and trailing samples below ``threshold`` of its peak."""
    loud = np.flatnonzero(np.abs(x) > threshold * np.abs(x).max())
    return x[loud[0] : loud[-1] + 1]


def render_clip(
    engine: ESpeakNG, config: DigitSynthesisConfig, settings: ClipSettings
) -> np.ndarray:
    """One clip: speak the digit, trim eSpeak's silences, resample, place the
    word at its onset in the window (centre-cropped if the word is longer),
    add the noise floor and scale to ``config.peak``. Float32, ``num_samples`` long."""
    pcm = engine.synthesize(
        DIGIT_WORDS[settings.digit],
        voice=settings.voice,
        rate_wpm=settings.rate_wpm,
        pitch=settings.pitch,
        pitch_range=settings.pitch_range,
        random_seed=settings.espeak_seed,
    )
    speech = trim_silence(pcm.astype(np.float64) / 32768.0)
    speech = peak_normalise(resample(speech, engine.sample_rate, config.sample_rate), 1.0)
    clip = np.zeros(config.num_samples, dtype=np.float64)
    if len(speech) >= config.num_samples:
        start = (len(speech) - config.num_samples) // 2
        clip[:] = speech[start : start + config.num_samples]
    else:
        onset = round(settings.onset_fraction * (config.num_samples - len(speech)))
        clip[onset : onset + len(speech)] = speech
    noise = np.random.default_rng(settings.noise_seed).standard_normal(config.num_samples)
    clip += noise * 10.0 ** (settings.noise_dbfs / 20.0)
    return peak_normalise(clip, config.peak).astype(np.float32)


@dataclass(frozen=True)
class DigitClips:
    """Synthesised clips with their labels and the settings that made them.

    ``waveforms`` is ``float32`` ``(N, num_samples)``; the other arrays have
    length ``N`` (``labels``, ``rate_wpm``, ``pitch``, ``pitch_range``:
    ``int64``; ``voices``: unicode strings).
    """

    waveforms: np.ndarray
    labels: np.ndarray
    voices: np.ndarray
    rate_wpm: np.ndarray
    pitch: np.ndarray
    pitch_range: np.ndarray


def synthesize_digits(
    config: DigitSynthesisConfig, engine: ESpeakNG | None = None, count: int | None = None
) -> DigitClips:
    """Render the first ``count`` clips of ``config`` (default: all of them)."""
    engine = engine or ESpeakNG()
    count = config.num_clips if count is None else count
    if not 0 < count <= config.num_clips:
        raise ValueError(f"count must be in [1, {config.num_clips}], got {count}")
    settings = [clip_settings(config, index) for index in range(count)]
    return DigitClips(
        waveforms=np.stack([render_clip(engine, config, s) for s in settings]),
        labels=np.array([s.digit for s in settings], dtype=np.int64),
        voices=np.array([s.voice for s in settings]),
        rate_wpm=np.array([s.rate_wpm for s in settings], dtype=np.int64),
        pitch=np.array([s.pitch for s in settings], dtype=np.int64),
        pitch_range=np.array([s.pitch_range for s in settings], dtype=np.int64),
    )
