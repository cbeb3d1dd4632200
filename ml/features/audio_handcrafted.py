"""Handcrafted audio frame features at 1 Hz, in the spirit of the VM-Net baseline.

One short-time Fourier transform (2048-sample Hann window, hop 512 at 22.05 kHz,
about 43 frames per second) feeds every spectral feature; the signal is
transformed block by block so that memory stays bounded on long tracks, with
frames identical to a single centred STFT. Per frame:

* timbre: 20 MFCCs of a 128-band log-mel spectrogram, their deltas and
  delta-deltas;
* harmony: a 12-bin chroma (equal temperament at A440: tuning is not estimated,
  which would cost a pitch tracking pass over the whole track);
* spectral shape: centroid, bandwidth, roll-off (85 %), flatness, and contrast
  in 7 bands;
* energy: zero-crossing rate and RMS;
* rhythm: onset strength (spectral flux of the log-mel spectrogram).

Per second (:mod:`ml.features.timegrid` rules) these are summarised by means,
and for the most informative ones also by standard deviation or maximum. Tempo
features come from a local autocorrelation tempogram of the onset envelope,
evaluated only at the centre of each second (an 8.9 s window) rather than at all
43 frames per second: the energy in 8 half-octave tempo bands from 30 to 480 BPM,
the pulse clarity (highest normalised autocorrelation between 30 and 300 BPM)
and the dominant local tempo as ``log2(bpm / 120)``.

Values are raw (dB, Hz, ratios): standardising them is the model's job.
"""

from __future__ import annotations

import functools
import itertools

import librosa
import numpy as np
import scipy.fft

from ml.features.registry import (
    AudioExtractor,
    checked_signal,
    register_extractor,
)
from ml.features.timegrid import n_seconds, pool_per_second

__all__ = ["FEATURE_NAMES", "HOP_LENGTH", "N_FFT", "SAMPLE_RATE", "HandcraftedAudio"]

SAMPLE_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128
N_MFCC = 20
N_CHROMA = 12
N_CONTRAST_BANDS = 6  # gives 7 values: 6 bands and the rest above them
DELTA_WIDTH = 9
#: STFT frames per block (about 47 s): bounds memory to ~20 MB per block.
BLOCK_FRAMES = 2048
#: Tempogram window in onset frames (8.9 s), as librosa's default.
TEMPOGRAM_WINDOW = 384
TEMPO_BAND_EDGES_BPM = tuple(float(b) for b in np.geomspace(30.0, 480.0, 9))
PULSE_RANGE_BPM = (30.0, 300.0)
# Dominant tempo: a log-normal prior around 120 BPM (one octave wide) picks the
# metrical level a listener would tap, as librosa's tempo estimator does.
PRIOR_CENTRE_BPM = 120.0
PRIOR_OCTAVES = 1.0
_LOG_AMIN = 1e-10  # -100 dB floor for digital silence


def _names() -> tuple[str, ...]:
    names: list[str] = []
    names += [f"mfcc{i}_mean" for i in range(N_MFCC)] + [f"mfcc{i}_std" for i in range(N_MFCC)]
    names += [f"mfcc{i}_delta_mean" for i in range(N_MFCC)]
    names += [f"mfcc{i}_delta2_mean" for i in range(N_MFCC)]
    names += [f"chroma{i}_mean" for i in range(N_CHROMA)]
    spectral = ("centroid", "bandwidth", "rolloff", "flatness")
    names += [f"{n}_mean" for n in spectral] + [f"{n}_std" for n in spectral]
    names += [f"contrast{i}_mean" for i in range(N_CONTRAST_BANDS + 1)]
    names += ["zcr_mean", "rms_mean", "zcr_std", "rms_std"]
    names += ["onset_mean", "onset_std", "onset_max"]
    lows, highs = TEMPO_BAND_EDGES_BPM[:-1], TEMPO_BAND_EDGES_BPM[1:]
    names += [f"tempogram_{lo:.0f}_{hi:.0f}bpm" for lo, hi in zip(lows, highs, strict=True)]
    names += ["pulse_clarity", "log2_tempo_over_120"]
    return tuple(names)


#: The meaning of each output column, in order.
FEATURE_NAMES = _names()


@register_extractor
class HandcraftedAudio(AudioExtractor):
    """MFCCs, chroma, spectral shape, energy, onset and tempo features at 1 Hz."""

    name = "handcrafted"
    version = "1"
    sample_rate = SAMPLE_RATE
    dim = len(FEATURE_NAMES)
    feature_names = FEATURE_NAMES

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Features of a mono signal, ``(ceil(len(y) / sr), dim)`` float32.

        A signal at another rate than :data:`SAMPLE_RATE` is resampled first.

        Raises
        ------
        FeatureInputError
            ``y`` is not a non-empty, finite, one-dimensional signal, or ``sr``
            is not a positive integer.
        """
        y = checked_signal(y, sr)
        if sr != SAMPLE_RATE:
            y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
        return handcrafted_audio_features(y)


def handcrafted_audio_features(y: np.ndarray) -> np.ndarray:
    """The computation behind :class:`HandcraftedAudio`, for a signal at 22.05 kHz."""
    frames = _frame_features(y)
    n_rows = n_seconds(y.size / SAMPLE_RATE)
    times = librosa.frames_to_time(np.arange(frames["mfcc"].shape[1]), sr=SAMPLE_RATE,
                                   hop_length=HOP_LENGTH)  # fmt: skip

    mfcc = frames["mfcc"]
    width = _delta_width(mfcc.shape[1])
    if width:
        delta = librosa.feature.delta(mfcc, width=width, order=1)
        delta2 = librosa.feature.delta(mfcc, width=width, order=2)
    else:  # fewer than 3 frames: no local slope to measure
        delta = delta2 = np.zeros_like(mfcc)
    onset = librosa.onset.onset_strength(S=frames["log_mel"], sr=SAMPLE_RATE,
                                         hop_length=HOP_LENGTH)  # fmt: skip

    spectral = np.vstack([frames[k] for k in ("centroid", "bandwidth", "rolloff", "flatness")])
    energy = np.vstack([frames["zcr"], frames["rms"]])
    blocks = [
        pool_per_second(mfcc.T, times, n_rows, ("mean", "std")),
        pool_per_second(delta.T, times, n_rows),
        pool_per_second(delta2.T, times, n_rows),
        pool_per_second(frames["chroma"].T, times, n_rows),
        pool_per_second(spectral.T, times, n_rows, ("mean", "std")),
        pool_per_second(frames["contrast"].T, times, n_rows),
        pool_per_second(energy.T, times, n_rows, ("mean", "std")),
        pool_per_second(onset, times, n_rows, ("mean", "std", "max")),
        tempo_features(onset, n_rows),
    ]
    return np.hstack(blocks).astype(np.float32)


def _frame_features(y: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame features from one centred STFT, computed block by block.

    The signal is zero-padded by half a window at both ends once (librosa's
    ``center=True, pad_mode="constant"``), then each block of frames is an
    uncentred STFT of its own slice, so the frames equal those of one
    whole-signal STFT.
    """
    padded = np.pad(y, N_FFT // 2)
    n_frames = 1 + y.size // HOP_LENGTH
    parts: dict[str, list[np.ndarray]] = {}
    for first in range(0, n_frames, BLOCK_FRAMES):
        count = min(BLOCK_FRAMES, n_frames - first)
        start = first * HOP_LENGTH
        chunk = padded[start : start + (count - 1) * HOP_LENGTH + N_FFT]
        for key, value in _block_features(chunk).items():
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(values, axis=-1) for key, values in parts.items()}


def _block_features(chunk: np.ndarray) -> dict[str, np.ndarray]:
    stft = librosa.stft(chunk, n_fft=N_FFT, hop_length=HOP_LENGTH, center=False)
    magnitude = np.abs(stft)
    power = magnitude**2
    mel_basis, dct_basis, chroma_basis = _filter_banks()
    log_mel = 10.0 * np.log10(np.maximum(mel_basis @ power, _LOG_AMIN))
    centroid, bandwidth, rolloff, flatness = spectral_shape(magnitude, power)
    chroma = chroma_basis @ power
    # Each frame scaled to a maximum of 1, as librosa.feature.chroma_stft.
    chroma_peak = chroma.max(axis=0, keepdims=True)
    chroma = np.divide(chroma, chroma_peak, out=np.zeros_like(chroma),
                       where=chroma_peak > np.finfo(np.float32).tiny)  # fmt: skip
    return {
        "log_mel": log_mel,
        "mfcc": dct_basis @ log_mel,
        "chroma": chroma,
        "centroid": centroid,
        "bandwidth": bandwidth,
        "rolloff": rolloff,
        "flatness": flatness,
        "contrast": librosa.feature.spectral_contrast(
            S=magnitude, sr=SAMPLE_RATE, n_fft=N_FFT, n_bands=N_CONTRAST_BANDS
        ),
        "zcr": librosa.feature.zero_crossing_rate(
            chunk, frame_length=N_FFT, hop_length=HOP_LENGTH, center=False
        )[0],
        "rms": librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0],
    }


def spectral_shape(
    magnitude: np.ndarray, power: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spectral centroid, bandwidth (Hz), 85 % roll-off (Hz) and flatness per frame.

    The definitions of ``librosa.feature.spectral_centroid``, ``_bandwidth``,
    ``_rolloff`` and ``_flatness`` (checked against them in the tests),
    computed together so that the magnitude is normalised once instead of
    once per feature. Silent frames give 0 (flatness 1).
    """
    freqs = _frequencies()
    total = magnitude.sum(axis=0)
    weights = np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)
    centroid = freqs @ weights
    bandwidth = np.sqrt(np.einsum("ft,ft->t", weights, (freqs[:, None] - centroid) ** 2))
    cumulative = np.cumsum(magnitude, axis=0)
    rolloff = freqs[np.argmax(cumulative >= 0.85 * cumulative[-1], axis=0)]
    floored = np.maximum(power, _LOG_AMIN)
    flatness = np.exp(np.log(floored).mean(axis=0)) / floored.mean(axis=0)
    return centroid, bandwidth, rolloff, flatness


@functools.cache
def _frequencies() -> np.ndarray:
    return librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT).astype(np.float32)


@functools.cache
def _filter_banks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mel filters, the DCT-II that turns log-mel into MFCCs (as
    ``librosa.feature.mfcc``), and chroma filters; built once per process."""
    mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    dct = scipy.fft.dct(np.eye(N_MELS, dtype=np.float32), type=2, norm="ortho", axis=0)
    chroma = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT, tuning=0.0, n_chroma=N_CHROMA)
    return mel.astype(np.float32), dct[:N_MFCC].astype(np.float32), chroma.astype(np.float32)


def tempo_features(onset_envelope: np.ndarray, n_rows: int) -> np.ndarray:
    """Tempo features for each second from an onset envelope at 43 frames/s.

    The autocorrelation of a mean-removed, Hann-windowed stretch of the
    envelope (an :data:`TEMPOGRAM_WINDOW`-frame tempogram column) centred on
    each second, normalised by its value at lag 0, is summarised as 8
    tempo-band means, the pulse clarity and the dominant tempo (see the module
    docstring; the dominant lag is refined between frames).

    Returns
    -------
    np.ndarray
        ``(n_rows, 10)`` float32.
    """
    frame_rate = SAMPLE_RATE / HOP_LENGTH
    centres = np.round((np.arange(n_rows) + 0.5) * frame_rate).astype(np.int64)
    half = TEMPOGRAM_WINDOW // 2
    padded = np.pad(np.asarray(onset_envelope, dtype=np.float64), half)
    windows = np.lib.stride_tricks.sliding_window_view(padded, TEMPOGRAM_WINDOW)
    columns = windows[np.clip(centres, 0, windows.shape[0] - 1)]
    # Remove each window's mean: a steady level of onset strength (stationary
    # noise) is not a pulse, and would otherwise correlate at every lag.
    columns = (columns - columns.mean(axis=1, keepdims=True)) * np.hanning(TEMPOGRAM_WINDOW)

    spectrum = np.fft.rfft(columns, n=2 * TEMPOGRAM_WINDOW, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :TEMPOGRAM_WINDOW]
    energy = autocorr[:, :1]
    autocorr = np.divide(autocorr, energy, out=np.zeros_like(autocorr), where=energy > 1e-12)

    lags = np.arange(TEMPOGRAM_WINDOW, dtype=np.float64)
    bpm = 60.0 * frame_rate / np.maximum(lags, 1.0)
    bands = []
    for low, high in itertools.pairwise(TEMPO_BAND_EDGES_BPM):
        in_band = (lags > 0) & (bpm >= low) & (bpm < high)
        bands.append(autocorr[:, in_band].mean(axis=1))

    in_range = np.flatnonzero(
        (lags > 0) & (bpm >= PULSE_RANGE_BPM[0]) & (bpm <= PULSE_RANGE_BPM[1])
    )
    clarity = autocorr[:, in_range].max(axis=1)
    prior = np.exp(-0.5 * (np.log2(bpm[in_range] / PRIOR_CENTRE_BPM) / PRIOR_OCTAVES) ** 2)
    weighted = np.maximum(autocorr[:, in_range], 0.0) * prior
    best_lag = _refined_peak(autocorr, in_range[np.argmax(weighted, axis=1)])
    dominant_bpm = 60.0 * frame_rate / best_lag
    # No periodicity at all (silence, steady noise): report the prior's centre.
    dominant_bpm = np.where(weighted.max(axis=1) > 0, dominant_bpm, PRIOR_CENTRE_BPM)
    return np.column_stack(bands + [clarity, np.log2(dominant_bpm / PRIOR_CENTRE_BPM)]).astype(
        np.float32
    )


def _refined_peak(curves: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-frame peak positions by parabolic interpolation: at 43 frames/s an
    integer lag near 120 BPM is 2.5 % coarse; the vertex of the parabola
    through the peak and its neighbours is far finer."""
    rows = np.arange(curves.shape[0])
    inner = np.clip(peaks, 1, curves.shape[1] - 2)
    left, centre, right = (curves[rows, inner - 1], curves[rows, inner], curves[rows, inner + 1])
    curvature = left - 2.0 * centre + right
    shift = np.divide(0.5 * (left - right), curvature, out=np.zeros_like(centre),
                      where=curvature < 0)  # fmt: skip
    return inner + np.clip(shift, -0.5, 0.5)


def _delta_width(n_frames: int) -> int:
    """The delta window: :data:`DELTA_WIDTH`, narrowed (odd, >= 3) for very short input."""
    width = min(DELTA_WIDTH, n_frames if n_frames % 2 else n_frames - 1)
    return width if width >= 3 else 0
