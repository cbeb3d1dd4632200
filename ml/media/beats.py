"""Beats, downbeats, tempo and meter with madmom's RNN + DBN downbeat tracker.

Two stages, usable apart (the analysis pipeline runs the expensive first one in a
worker of its own):

1. :func:`downbeat_activations`: madmom's ``RNNDownBeatProcessor`` (an ensemble of
   bidirectional LSTMs on three log-filtered spectrograms, Böck et al., ISMIR 2016)
   turns a signal into beat and downbeat activations at 100 frames per second. Its
   LSTM layers run in a compiled loop (:mod:`ml.media.downbeat_network`, about 7x
   faster than madmom's Python loop, the same beats).
2. :func:`decode_downbeats`: madmom's ``DBNDownBeatTrackingProcessor`` decodes them
   with one bar-pointer HMM per bar length (3/4 and 4/4 by default) and keeps the
   most probable, which gives the beats, their position in the bar, and the meter.

The networks were trained on 44.1 kHz audio and their filterbanks are defined in
samples, so a signal at another rate is resampled to 44.1 kHz first; madmom itself
would do the same when reading a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ml import compat

__all__ = [
    "BeatTrack",
    "track_beats",
    "downbeat_activations",
    "decode_downbeats",
    "ACTIVATION_RATE_HZ",
    "MODEL_SAMPLE_RATE",
]

#: Frame rate of madmom's downbeat activations.
ACTIVATION_RATE_HZ = 100
#: The sample rate madmom's downbeat networks were trained at.
MODEL_SAMPLE_RATE = 44100
#: Tempo range of the DBN, madmom's defaults (beats per minute).
MIN_BPM = 55.0
MAX_BPM = 215.0


@dataclass(frozen=True)
class BeatTrack:
    """Beats of a recording.

    Attributes
    ----------
    beats_s : np.ndarray
        Beat times in seconds, increasing, float64, shape ``(n_beats,)``.
    beat_numbers : np.ndarray
        Position of each beat in its bar, 1 for a downbeat, int64, ``(n_beats,)``.
    downbeats_s : np.ndarray
        The beats with number 1, in seconds.
    tempo_bpm : float
        60 over the median inter-beat interval; NaN with fewer than two beats.
    beats_per_bar : int
        The meter the DBN chose (3 or 4 by default); 0 when no beat was found.
    """

    beats_s: np.ndarray
    beat_numbers: np.ndarray
    downbeats_s: np.ndarray
    tempo_bpm: float
    beats_per_bar: int

    @property
    def n_beats(self) -> int:
        return int(self.beats_s.size)


def track_beats(
    y: np.ndarray,
    sr: int,
    *,
    beats_per_bar: Sequence[int] = (3, 4),
    min_bpm: float = MIN_BPM,
    max_bpm: float = MAX_BPM,
) -> BeatTrack:
    """Beats, downbeats, tempo and meter of a mono signal.

    Parameters
    ----------
    y : np.ndarray
        Mono signal, shape ``(n_samples,)``, float in [-1, 1].
    sr : int
        Its sample rate in Hz.
    beats_per_bar : sequence of int
        Candidate bar lengths; the most probable one is kept.
    min_bpm, max_bpm : float
        Tempo range searched by the DBN.

    Raises
    ------
    ValueError
        ``y`` is not a finite 1-D signal, ``sr`` is not positive, or the
        parameters are inconsistent.
    """
    activations = downbeat_activations(y, sr)
    return decode_downbeats(
        activations, beats_per_bar=beats_per_bar, min_bpm=min_bpm, max_bpm=max_bpm
    )


def downbeat_activations(y: np.ndarray, sr: int) -> np.ndarray:
    """madmom's joint beat / downbeat activations of a mono signal.

    Returns
    -------
    np.ndarray
        Shape ``(n_frames, 2)`` at :data:`ACTIVATION_RATE_HZ`, float32: the
        probability of a beat that is not a downbeat, and of a downbeat.
    """
    y = _checked_signal(y, sr)
    if sr != MODEL_SAMPLE_RATE:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=MODEL_SAMPLE_RATE, res_type="soxr_hq")
    return _network().activations(np.ascontiguousarray(y, dtype=np.float32))


def decode_downbeats(
    activations: np.ndarray,
    *,
    beats_per_bar: Sequence[int] = (3, 4),
    min_bpm: float = MIN_BPM,
    max_bpm: float = MAX_BPM,
    fps: float = ACTIVATION_RATE_HZ,
) -> BeatTrack:
    """Decode activations from :func:`downbeat_activations` into a :class:`BeatTrack`."""
    activations = np.asarray(activations)
    if activations.ndim != 2 or activations.shape[1] != 2:
        raise ValueError(f"activations must have shape (n_frames, 2), got {activations.shape}")
    if not np.all(np.isfinite(activations)):
        raise ValueError("activations contain non-finite values")
    bars = tuple(int(b) for b in beats_per_bar)
    if not bars or min(bars) < 2:
        raise ValueError(f"beats_per_bar must be bar lengths >= 2, got {beats_per_bar!r}")
    if not 0 < min_bpm < max_bpm:
        raise ValueError(f"need 0 < min_bpm < max_bpm, got {min_bpm}, {max_bpm}")

    decoder = _dbn_processor(bars, float(min_bpm), float(max_bpm), float(fps))
    result = np.asarray(decoder(activations.astype(np.float64)), dtype=np.float64)
    if result.size == 0:
        return _no_beats()
    beats_s = result[:, 0]
    numbers = np.rint(result[:, 1]).astype(np.int64)
    return BeatTrack(
        beats_s=beats_s,
        beat_numbers=numbers,
        downbeats_s=beats_s[numbers == 1],
        tempo_bpm=_median_tempo(beats_s),
        beats_per_bar=int(numbers.max()),
    )


def _median_tempo(beats_s: np.ndarray) -> float:
    """60 / median inter-beat interval: robust to a few missed or extra beats."""
    if beats_s.size < 2:
        return float("nan")
    return float(60.0 / np.median(np.diff(beats_s)))


def _no_beats() -> BeatTrack:
    empty = np.zeros(0, dtype=np.float64)
    return BeatTrack(empty, np.zeros(0, dtype=np.int64), empty, float("nan"), 0)


def _checked_signal(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n_samples,), got {y.shape}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sr must be a positive integer, got {sr!r}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"expected a floating-point signal, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise ValueError("signal contains non-finite samples")
    return y


@lru_cache(maxsize=1)
def _rnn_processor() -> Any:
    # Loading the eight networks takes a while: once per process.
    compat.apply()
    from madmom.features.downbeats import RNNDownBeatProcessor

    return RNNDownBeatProcessor()


@lru_cache(maxsize=1)
def _network() -> Any:
    from ml.media.downbeat_network import DownbeatNetwork

    return DownbeatNetwork(_rnn_processor())


@lru_cache(maxsize=8)
def _dbn_processor(
    beats_per_bar: tuple[int, ...], min_bpm: float, max_bpm: float, fps: float
) -> Any:
    compat.apply()
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor

    return DBNDownBeatTrackingProcessor(
        beats_per_bar=list(beats_per_bar), min_bpm=min_bpm, max_bpm=max_bpm, fps=fps
    )
