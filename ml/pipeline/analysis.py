"""The analysis of one catalog track: decode once, then structure, downbeats, features.

Calling each library on the file (``msaf.process`` per algorithm, madmom's
processors, ``librosa.load`` for the frame features) decodes the same file five or
more times and repeats MSAF's harmonic/percussive separation for every algorithm.
:func:`analyse_track` instead

* decodes once, at 44.1 kHz (what madmom's networks expect), and resamples once to
  22.05 kHz for MSAF and the frame-feature extractors;
* computes MSAF's features once for all requested algorithms
  (:func:`ml.media.structure.structure_features`);
* runs madmom's downbeat networks, the most expensive stage, in a worker process
  while this process does structure and frame features, so two cores are busy.

The worker is a single long-lived process (spawned on first use, with the
networks loaded once); :func:`shutdown_worker` stops it. Where a child process
cannot be started (inside a daemonic process such as a Celery prefork worker) or
``parallel=False``, the stages run one after the other with identical results.
The worker is spawned, not forked, so a script calling :func:`analyse_track` at
module level needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml.features.registry import get_extractor
from ml.features.tags import TrackTags
from ml.media.beats import MODEL_SAMPLE_RATE, BeatTrack, track_beats
from ml.media.structure import (
    ANALYSIS_SAMPLE_RATE,
    METHODS,
    merge_short_segments,
    msaf_boundaries_all,
    structure_features,
)

__all__ = [
    "DECODE_SAMPLE_RATE",
    "TrackAnalysis",
    "analyse_track",
    "analysis_rate_features",
    "analysis_rate_features_and_tags",
    "music_boundaries",
    "shutdown_worker",
    "to_analysis_rate",
]

#: Shortest music segment kept (s): shorter ones merge into a neighbour.
DEFAULT_MIN_SEGMENT_S = 2.0

#: The one rate a file is decoded at (madmom's); MSAF and features get a resampled copy.
DECODE_SAMPLE_RATE = MODEL_SAMPLE_RATE

PathOrSignal = str | os.PathLike[str] | tuple[np.ndarray, int]


@dataclass(frozen=True)
class TrackAnalysis:
    """Everything the ingest step needs from one track's audio.

    Attributes
    ----------
    duration_s : float
        Length of the decoded audio.
    boundaries_s : dict
        Segmenter name -> boundaries in seconds, including 0 and the duration.
    beats : BeatTrack
        Beats, downbeats, tempo and meter.
    features : dict
        Extractor key (``"audio/handcrafted@1"``) -> ``(ceil(duration_s), dim)``
        float32 frame features at 1 Hz.
    extractors : tuple
        The :class:`ml.features.registry.ExtractorSpec` of each extractor, to be
        recorded with the embeddings.
    timings_s : dict
        Seconds spent per stage (``decode``, ``resample``, ``structure_features``,
        ``segmentation`` (all MSAF algorithms), ``downbeats``, one per extractor,
        ``tags`` when the tagger ran apart, ``total``). Stages
        run in parallel, so they may add up to more than ``total``.
    tags : TrackTags or None
        The automatic tags of the first tagging extractor (MusiCNN), from the same
        pass as its features, else the ``tagger``'s; None when nothing tags.
    """

    duration_s: float
    boundaries_s: dict[str, np.ndarray]
    beats: BeatTrack
    features: dict[str, np.ndarray]
    extractors: tuple[Any, ...]
    timings_s: dict[str, float] = field(default_factory=dict)
    tags: TrackTags | None = None


def analyse_track(
    path_or_signal: PathOrSignal,
    segmenter: str | Sequence[str] = METHODS,
    audio_extractors: Sequence[str] = ("handcrafted",),
    *,
    min_segment_s: float = DEFAULT_MIN_SEGMENT_S,
    beats_per_bar: Sequence[int] = (3, 4),
    tagger: str | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
    parallel: bool | None = None,
) -> TrackAnalysis:
    """Decode a track once and compute its structure, downbeats and frame features.

    Parameters
    ----------
    path_or_signal : path or (y, sr)
        An audio (or audio-bearing video) file, or a mono float signal and its rate.
    segmenter : str or sequence of str
        One or several of ``"foote"``, ``"sf"``, ``"olda"``; they share one
        feature pass.
    audio_extractors : sequence of str
        Names in :mod:`ml.features.registry` (audio modality).
    min_segment_s : float
        Shortest segment kept (see :func:`ml.media.structure.merge_short_segments`).
    beats_per_bar : sequence of int
        Meters the downbeat tracker chooses from.
    tagger : str or None
        A tagging audio extractor (``"musicnn"``) that gives the track its tags when
        none of ``audio_extractors`` does (its features are not kept; timed as ``tags``).
    max_duration_s, timeout_s : float or None
        Passed to :func:`ml.media.decode.load_audio` for a file.
    parallel : bool or None
        Run the downbeat networks in a worker process; ``None`` decides
        automatically (more than one CPU and not inside a daemonic process).

    Raises
    ------
    ml.media.errors.MediaError
        The file cannot be used (a subclass says why).
    ValueError
        Unknown segmenter, bad signal or parameters.
    ml.features.registry.UnknownExtractorError
        An extractor name is not registered.
    """
    methods = (segmenter,) if isinstance(segmenter, str) else tuple(segmenter)
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise ValueError(f"segmenter must be among {METHODS}, got {segmenter!r}")
    if min_segment_s < 0:
        raise ValueError(f"min_segment_s must be >= 0, got {min_segment_s}")
    extractors = tuple(get_extractor(name, "audio") for name in audio_extractors)
    tagging = get_extractor(tagger, "audio") if tagger is not None else None

    timings: dict[str, float] = {}
    start = time.perf_counter()
    y_model, sr_model = _decode(path_or_signal, max_duration_s, timeout_s, timings)

    # The most expensive stage goes to the worker first, so it overlaps the rest.
    pending: Future[tuple[BeatTrack, float]] | None = None
    if _use_worker(parallel):
        pending = _worker().submit(_timed_beats, y_model, sr_model, tuple(beats_per_bar))

    with _timer(timings, "resample"):
        y = to_analysis_rate(y_model, sr_model)
    with _timer(timings, "structure_features"):
        structure = structure_features(y, ANALYSIS_SAMPLE_RATE)
    with _timer(timings, "segmentation"):
        boundaries = _boundaries_from_structure(structure, methods, min_segment_s)

    features: dict[str, np.ndarray] = {}
    tags: TrackTags | None = None
    for extractor in extractors:
        key = extractor.spec.key
        with _timer(timings, key):
            features[key], found = analysis_rate_features_and_tags(y, extractor)
        tags = tags or found
    if tags is None and tagging is not None:
        with _timer(timings, "tags"):
            _, tags = analysis_rate_features_and_tags(y, tagging)

    if pending is None:
        beats, timings["downbeats"] = _timed_beats(y_model, sr_model, tuple(beats_per_bar))
    else:
        beats, timings["downbeats"] = pending.result()
    timings["total"] = time.perf_counter() - start
    return TrackAnalysis(
        duration_s=len(y_model) / float(sr_model),
        boundaries_s=boundaries,
        beats=beats,
        features=features,
        extractors=tuple(e.spec for e in extractors),
        timings_s=timings,
        tags=tags,
    )


def _boundaries_from_structure(
    structure, methods: Sequence[str], min_segment_s: float
) -> dict[str, np.ndarray]:
    raw = msaf_boundaries_all(structure, methods)
    return {m: merge_short_segments(b, min_segment_s) for m, b in raw.items()}


def music_boundaries(
    y: np.ndarray, sr: int, methods: Sequence[str], min_segment_s: float = DEFAULT_MIN_SEGMENT_S
) -> dict[str, np.ndarray]:
    """Music-structure boundaries (seconds, 0 and the duration included) of a decoded
    signal, by each MSAF method in ``methods``, exactly as :func:`analyse_track` finds them
    (one feature pass at the analysis rate, segments shorter than ``min_segment_s``
    merged)."""
    structure = structure_features(to_analysis_rate(y, sr), ANALYSIS_SAMPLE_RATE)
    return _boundaries_from_structure(structure, tuple(methods), min_segment_s)


def to_analysis_rate(y: np.ndarray, sr: int = DECODE_SAMPLE_RATE) -> np.ndarray:
    """A decoded signal resampled to the analysis rate of MSAF and the extractors."""
    return _resample(y, sr, ANALYSIS_SAMPLE_RATE)


def analysis_rate_features(y: np.ndarray, extractor) -> np.ndarray:
    """``(T, D)`` frame features of a signal at :data:`ANALYSIS_SAMPLE_RATE`, resampled to
    the extractor's own rate exactly as :func:`analyse_track` does."""
    return extractor.extract(
        _resample(y, ANALYSIS_SAMPLE_RATE, extractor.sample_rate), extractor.sample_rate
    )


def analysis_rate_features_and_tags(
    y: np.ndarray, extractor
) -> tuple[np.ndarray, TrackTags | None]:
    """:func:`analysis_rate_features` and the track's automatic tags from the same pass
    (None unless the extractor tags, :meth:`~ml.features.registry.AudioExtractor.extract_tagged`)."""
    return extractor.extract_tagged(
        _resample(y, ANALYSIS_SAMPLE_RATE, extractor.sample_rate), extractor.sample_rate
    )


def shutdown_worker() -> None:
    """Stop the downbeat worker process, if one was started (it restarts on demand)."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


def _decode(
    path_or_signal: PathOrSignal,
    max_duration_s: float | None,
    timeout_s: float | None,
    timings: dict[str, float],
) -> tuple[np.ndarray, int]:
    with _timer(timings, "decode"):
        if isinstance(path_or_signal, tuple):
            y, sr = path_or_signal
            y = np.asarray(y)
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating) or y.size == 0:
                raise ValueError("signal must be a non-empty 1-D float array")
            if not isinstance(sr, (int, np.integer)) or sr <= 0:
                raise ValueError(f"sr must be a positive integer, got {sr!r}")
            return np.ascontiguousarray(y, dtype=np.float32), int(sr)
        from ml.media.decode import load_audio

        y = load_audio(
            path_or_signal,
            sr=DECODE_SAMPLE_RATE,
            max_duration_s=max_duration_s,
            timeout_s=timeout_s,
        )
        return y, DECODE_SAMPLE_RATE


def _resample(y: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    if sr == target_sr:
        return y
    import librosa

    return librosa.resample(y, orig_sr=sr, target_sr=target_sr, res_type="soxr_hq")


def _timed_beats(y: np.ndarray, sr: int, beats_per_bar: tuple[int, ...]) -> tuple[BeatTrack, float]:
    start = time.perf_counter()
    beats = track_beats(y, sr, beats_per_bar=beats_per_bar)
    return beats, time.perf_counter() - start


class _timer:
    """``with _timer(timings, "stage"):`` adds the block's wall time to ``timings``."""

    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.stage] = self.timings.get(self.stage, 0.0) + (
            time.perf_counter() - self.start
        )


_executor: ProcessPoolExecutor | None = None
_executor_lock = threading.Lock()


def _use_worker(parallel: bool | None) -> bool:
    if multiprocessing.current_process().daemon:
        # multiprocessing forbids children of daemonic processes.
        return False
    if parallel is None:
        return (os.cpu_count() or 1) > 1
    return parallel


def _worker() -> ProcessPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            # spawn, not fork: the parent may hold threads (web server, torch) and
            # locks that a forked child would inherit in an unknown state.
            _executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up,
                initargs=(os.getpid(),),
            )
        return _executor


def _warm_up(parent_pid: int) -> None:
    """In the worker: follow the parent's life, then load madmom's networks once, before
    the first track arrives."""
    exit_with_parent(parent_pid)
    from ml.media.beats import _network

    _network()


def exit_with_parent(parent_pid: int, every_s: float = 0.5) -> threading.Thread:
    """End this process as soon as ``parent_pid`` is no longer its parent.

    A parent killed outright (SIGKILL, the OOM killer, a signal that skips its clean-up)
    cannot stop its worker, and a worker blocked on its task queue never notices: it
    would live on, holding its networks' memory. A daemon thread watches instead."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(1)

    watcher = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    watcher.start()
    return watcher


atexit.register(shutdown_worker)
