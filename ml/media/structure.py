"""Music structure: segment boundaries with MSAF's Foote, SF and OLDA algorithms.

MSAF's own entry point, ``msaf.process(path)``, reads the file, computes its features
and runs one algorithm. Used naively for the three algorithms it decodes the file up
to four times and runs harmonic/percussive separation up to seven times (twice per
PCP pass: once for the chroma, once for the beats; again for OLDA's MFCCs). Here:

1. :func:`structure_features` computes MSAF's default inputs once from a decoded
   signal: harmonic/percussive separation (librosa's, with compiled median filters:
   :mod:`ml.media.hpss`), PCP (chroma of a hybrid CQT of the
   harmonic part), MFCCs, librosa beats on the percussive part, and beat-synchronous
   means, exactly as ``msaf.features`` does (same parameters, same order of
   operations), so the boundaries equal ``msaf.process`` on the same samples.
2. :func:`msaf_boundaries` hands them to MSAF through its documented feature-file
   interface: the features are written, in MSAF's format, to a JSON file in a
   private temporary directory and MSAF's ``run_algorithms`` reads them from there.
   Nothing is shared between calls or processes, nothing is written next to the
   audio, and nothing is random, so results are deterministic.
3. :func:`segment_structure` adds the clean-up a caller wants: boundaries include
   0 and the duration, and segments shorter than ``min_segment_s`` are merged into a
   neighbour (MSAF leaves a sliver before the first beat and after the last frame).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml import compat
from ml.media.hpss import hpss

__all__ = [
    "METHODS",
    "ANALYSIS_SAMPLE_RATE",
    "StructureFeatures",
    "structure_features",
    "msaf_boundaries",
    "segment_structure",
    "segment_structures",
    "segment_file",
    "merge_short_segments",
]

#: The MSAF boundary algorithms this module runs.
METHODS: tuple[str, ...] = ("foote", "sf", "olda")
#: MSAF's analysis rate (``msaf.config.sample_rate``), and its hop and FFT sizes.
ANALYSIS_SAMPLE_RATE = 22050
HOP_LENGTH = 1024
MFCC_N_FFT = 4096
#: Default shortest segment kept by :func:`segment_structure`, in seconds.
MIN_SEGMENT_S = 2.0


@dataclass(frozen=True)
class StructureFeatures:
    """MSAF's default inputs for one signal, frame- and beat-synchronous.

    Attributes
    ----------
    duration_s : float
        Length of the signal in seconds.
    pcp, mfcc : np.ndarray
        Frame-synchronous features, ``(n_frames, 12)`` and ``(n_frames, 14)``,
        float64, at ``HOP_LENGTH / ANALYSIS_SAMPLE_RATE`` s per frame.
    beats_s : np.ndarray
        librosa beats (on the percussive part) in seconds, a beat at 0 removed.
    beat_frames : np.ndarray
        The same beats as frame indices.
    pcp_beatsync, mfcc_beatsync : np.ndarray
        Means of the frame features between beats (padded to span the signal).
    beatsync_times_s : np.ndarray
        Start time of each beat-synchronous row.
    """

    duration_s: float
    pcp: np.ndarray
    mfcc: np.ndarray
    beats_s: np.ndarray
    beat_frames: np.ndarray
    pcp_beatsync: np.ndarray
    mfcc_beatsync: np.ndarray
    beatsync_times_s: np.ndarray

    @property
    def frame_times_s(self) -> np.ndarray:
        return np.arange(self.pcp.shape[0]) * HOP_LENGTH / ANALYSIS_SAMPLE_RATE


def structure_features(y: np.ndarray, sr: int) -> StructureFeatures:
    """Compute MSAF's default features (PCP and MFCC, beat-synchronous) once.

    Parameters
    ----------
    y : np.ndarray
        Mono signal, float, shape ``(n_samples,)``.
    sr : int
        Its rate; resampled to :data:`ANALYSIS_SAMPLE_RATE` if different.

    Raises
    ------
    ValueError
        ``y`` is not a finite 1-D float signal or ``sr`` is not positive.
    """
    import librosa

    y = _checked_signal(y, sr)
    if sr != ANALYSIS_SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=ANALYSIS_SAMPLE_RATE, res_type="soxr_hq")
    sr = ANALYSIS_SAMPLE_RATE
    # MSAF separates twice per PCP object (chroma, then beats): the result is the
    # same, so once is enough; librosa.effects.hpss's values, faster (ml.media.hpss).
    harmonic, percussive = hpss(y)

    # msaf.features.PCP.compute_features
    linear_cqt = (
        np.abs(
            librosa.hybrid_cqt(
                harmonic, sr=sr, hop_length=HOP_LENGTH, n_bins=84, norm=np.inf, fmin=27.5
            )
        )
        ** 2
    )
    pcp = librosa.feature.chroma_cqt(
        C=linear_cqt, sr=sr, hop_length=HOP_LENGTH, n_octaves=6, fmin=27.5
    ).T
    # msaf.features.MFCC.compute_features (amplitude_to_db on a power spectrogram
    # is MSAF's choice; kept so the boundaries match).
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=MFCC_N_FFT, hop_length=HOP_LENGTH, n_mels=128
    )
    mfcc = librosa.feature.mfcc(S=librosa.amplitude_to_db(mel, ref=np.max), n_mfcc=14).T

    # msaf.base.Features.estimate_beats and compute_beat_sync_features
    _, beat_frames = librosa.beat.beat_track(y=percussive, sr=sr, hop_length=HOP_LENGTH)
    beats_s = librosa.frames_to_time(beat_frames, sr=sr, hop_length=HOP_LENGTH)
    if len(beats_s) > 0 and beats_s[0] == 0:
        beats_s, beat_frames = beats_s[1:], beat_frames[1:]
    frame_times = librosa.frames_to_time(np.arange(pcp.shape[0]), sr=sr, hop_length=HOP_LENGTH)
    pcp_sync = librosa.util.sync(pcp.T, beat_frames, pad=True).T
    mfcc_sync = librosa.util.sync(mfcc.T, beat_frames, pad=True).T
    sync_times = np.copy(beats_s)
    if sync_times.shape[0] != pcp_sync.shape[0]:
        sync_times = np.concatenate((sync_times, [frame_times[-1]]))

    return StructureFeatures(
        duration_s=len(y) / float(sr),
        pcp=pcp,
        mfcc=mfcc,
        beats_s=beats_s,
        beat_frames=beat_frames,
        pcp_beatsync=pcp_sync,
        mfcc_beatsync=mfcc_sync,
        beatsync_times_s=sync_times,
    )


def msaf_boundaries(features: StructureFeatures, method: str) -> np.ndarray:
    """Boundaries (seconds) of one MSAF algorithm, exactly as ``msaf.process`` gives them.

    Includes 0 and the duration, and MSAF's sliver segments at both ends.

    Raises
    ------
    ValueError
        ``method`` is not one of :data:`METHODS`.
    """
    return msaf_boundaries_all(features, (method,))[method]


def msaf_boundaries_all(
    features: StructureFeatures, methods: Iterable[str] = METHODS
) -> dict[str, np.ndarray]:
    """:func:`msaf_boundaries` for several methods, writing the features once."""
    methods = tuple(methods)
    for method in methods:
        _check_method(method)
    compat.apply()
    import msaf
    import msaf.run

    results: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="v2m-structure-") as tmp:
        file_struct = _write_msaf_features(features, tmp)
        for method in methods:
            config = msaf.io.get_configuration(
                "pcp", annot_beats=False, framesync=False, boundaries_id=method, labels_id=None
            )
            config["hier"] = False
            config["features"] = msaf.base.Features.select_features(
                "pcp", file_struct, False, False
            )
            times, _ = msaf.run.run_algorithms(file_struct, method, None, config)
            results[method] = np.asarray(times, dtype=np.float64)
    return results


def segment_structure(
    y: np.ndarray, sr: int, method: str, *, min_segment_s: float = MIN_SEGMENT_S
) -> np.ndarray:
    """Segment boundaries of a signal in seconds, including 0 and the duration.

    Parameters
    ----------
    y, sr
        Mono float signal and its rate.
    method : {"foote", "sf", "olda"}
        The MSAF algorithm.
    min_segment_s : float
        Segments shorter than this are merged into a neighbour (see
        :func:`merge_short_segments`); 0 keeps MSAF's output as it is.

    Raises
    ------
    ValueError
        Unknown ``method``, bad signal, or negative ``min_segment_s``.
    """
    _check_method(method)
    return segment_structures(y, sr, (method,), min_segment_s=min_segment_s)[method]


def segment_structures(
    y: np.ndarray,
    sr: int,
    methods: Iterable[str] = METHODS,
    *,
    min_segment_s: float = MIN_SEGMENT_S,
    features: StructureFeatures | None = None,
) -> dict[str, np.ndarray]:
    """Boundaries of several methods from one feature pass (see :func:`segment_structure`).

    ``features`` may be given to reuse a :func:`structure_features` result.
    """
    methods = tuple(methods)
    for method in methods:
        _check_method(method)
    if min_segment_s < 0:
        raise ValueError(f"min_segment_s must be >= 0, got {min_segment_s}")
    if features is None:
        features = structure_features(y, sr)
    raw = msaf_boundaries_all(features, methods)
    return {m: merge_short_segments(b, min_segment_s) for m, b in raw.items()}


def segment_file(
    path: str | os.PathLike[str],
    method: str,
    *,
    min_segment_s: float = MIN_SEGMENT_S,
    **load_kwargs: Any,
) -> np.ndarray:
    """:func:`segment_structure` of an audio file, decoded by :func:`ml.media.decode.load_audio`.

    Raises the :class:`ml.media.errors.MediaError` subclasses of ``load_audio``.
    """
    from ml.media.decode import load_audio

    _check_method(method)
    y = load_audio(path, sr=ANALYSIS_SAMPLE_RATE, **load_kwargs)
    return segment_structure(y, ANALYSIS_SAMPLE_RATE, method, min_segment_s=min_segment_s)


def merge_short_segments(boundaries_s: np.ndarray, min_segment_s: float) -> np.ndarray:
    """Remove inner boundaries until no segment is shorter than ``min_segment_s``.

    The shortest segment goes first; it is merged into its shorter neighbour (a
    segment at either end can only merge inwards). 0 and the duration always stay,
    so a signal shorter than ``min_segment_s`` becomes one segment.
    """
    b = [float(t) for t in np.asarray(boundaries_s, dtype=np.float64)]
    if len(b) < 2 or any(t1 <= t0 for t0, t1 in zip(b, b[1:])):
        raise ValueError("boundaries must be strictly increasing with at least two values")
    while len(b) > 2:
        lengths = np.diff(b)
        k = int(np.argmin(lengths))
        if lengths[k] >= min_segment_s:
            break
        if k == 0:
            del b[1]
        elif k == len(lengths) - 1:
            del b[-2]
        elif lengths[k - 1] <= lengths[k + 1]:
            del b[k]
        else:
            del b[k + 1]
    return np.asarray(b, dtype=np.float64)


def _write_msaf_features(features: StructureFeatures, directory: str) -> Any:
    """Write ``features`` where MSAF looks for them; return the matching ``FileStruct``."""
    import msaf
    from msaf.base import FeatureTypes

    # MSAF checks the audio file's base name and duration when it reads features;
    # the audio file itself is never opened.
    file_struct = msaf.io.FileStruct(os.path.join(directory, "audio", "signal.wav"))
    file_struct.features_file = os.path.join(directory, "features.json")
    frame_times = features.frame_times_s
    for cls, framesync, beatsync in (
        (msaf.features.PCP, features.pcp, features.pcp_beatsync),
        (msaf.features.MFCC, features.mfcc, features.mfcc_beatsync),
    ):
        obj = cls(file_struct, FeatureTypes.est_beatsync)
        obj.dur = features.duration_s
        obj._framesync_features = framesync
        obj._framesync_times = frame_times
        obj._est_beats_times = features.beats_s
        obj._est_beats_frames = features.beat_frames
        obj._est_beatsync_features = beatsync
        obj._est_beatsync_times = features.beatsync_times_s
        obj.write_features()  # MSAF's own writer: its reader will accept the file
    return file_struct


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown structure method {method!r}; expected one of {METHODS}")


def _checked_signal(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n_samples,), got {y.shape}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sr must be a positive integer, got {sr!r}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"expected a floating-point signal, got dtype {y.dtype}")
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("signal is empty or contains non-finite samples")
    return np.ascontiguousarray(y, dtype=np.float32)
