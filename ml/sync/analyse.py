"""The thesis' study of music videos, reproduced on a folder of videos (docs/method.md §9).

For every video:

* shots with the project's TransNetV2 detector (:func:`ml.media.shots.analyze_shots`):
  the per-frame transition probability is the cut likelihood ``f_shot`` (moved one
  frame later, see :func:`transition_to_cut_likelihood`), the shot boundaries give
  the shot durations;
* downbeats and beats of its soundtrack with madmom's RNN + DBN tracker, and music
  segment boundaries with MSAF (OLDA by default), both through
  :func:`ml.pipeline.analysis.analyse_track` (one decode of the audio);
* the co-occurrence scores S of segment boundaries and of downbeats
  (:mod:`ml.sync.cooccurrence`), the dominant shot length against beat and bar and its
  level (:mod:`ml.sync.tempo`).

Over the folder: the mean of each S with a 95 % confidence interval (Student t on the
sample mean) and the number of videos at bar, beat and 4-bar level, the thesis'
table (548 official videos: S 0.11-0.36 by genre; 95 bar, 329 beat, 2 4-bar).

:func:`video_sync` is the pure part (arrays in, numbers out); :func:`analyse_video`
and :func:`analyse_folder` add the media analysis; ``python -m ml.sync DIR`` prints
the table (:func:`format_table`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ml.sync._checks import check_likelihood, check_positive, check_times
from ml.sync.cooccurrence import DEFAULT_SIGMA_S, cooccurrence_score
from ml.sync.tempo import (
    LEVELS,
    ShotTempo,
    dominant_shot_length,
    median_period,
    shot_durations,
    shot_tempo,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "StudySummary",
    "VideoSync",
    "analyse_folder",
    "analyse_video",
    "find_videos",
    "format_table",
    "mean_ci",
    "summarise",
    "transition_to_cut_likelihood",
    "video_sync",
]

#: File extensions taken as videos when a folder is analysed (case-insensitive).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


@dataclass(frozen=True)
class VideoSync:
    """The synchronisation measures of one music video.

    Attributes
    ----------
    name : str
        The video's file name (or any label).
    duration_s : float
        Length of the video, seconds.
    n_shots : int
        Number of shots.
    n_boundaries, n_downbeats : int
        Music events strictly inside the video.
    boundary_score, downbeat_score : float
        S over segment boundaries and over downbeats (NaN with no such event).
    tempo : ShotTempo or None
        Dominant shot length against beat and bar; None when the tracker found
        fewer than two beats or two downbeats.
    """

    name: str
    duration_s: float
    n_shots: int
    n_boundaries: int
    n_downbeats: int
    boundary_score: float
    downbeat_score: float
    tempo: ShotTempo | None

    @property
    def level(self) -> str:
        """The tempo's level, ``"none"`` without a tempo."""
        return self.tempo.level if self.tempo is not None else "none"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""
        return _json_ready(asdict(self) | {"level": self.level})


@dataclass(frozen=True)
class StudySummary:
    """The folder's table: mean S with 95 % CI, and the level counts.

    Attributes
    ----------
    n_videos : int
        Videos analysed.
    boundary_mean, downbeat_mean : float
        Mean S over the videos where it is defined.
    boundary_ci, downbeat_ci : (float, float)
        95 % confidence intervals of those means (Student t).
    level_counts : dict
        ``"bar"``, ``"beat"``, ``"4-bar"``, ``"none"`` -> number of videos.
    """

    n_videos: int
    boundary_mean: float
    boundary_ci: tuple[float, float]
    downbeat_mean: float
    downbeat_ci: tuple[float, float]
    level_counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""
        return _json_ready(asdict(self))


def transition_to_cut_likelihood(probabilities: np.ndarray) -> np.ndarray:
    """TransNetV2's per-frame transition probabilities as a likelihood of a cut *at* each frame.

    For a hard cut TransNetV2 marks the last frame of the outgoing shot, frame
    ``b - 1``, while the cut happens when frame ``b`` appears, at ``b / fps``
    (:mod:`ml.media.shots`). Moving the probabilities one frame later puts the mass at
    the cut's time; without it every cut would look one frame (40 ms at 25 Hz) early.

    Parameters
    ----------
    probabilities : np.ndarray
        ``(n_frames,)`` transition probabilities.

    Returns
    -------
    np.ndarray
        ``(n_frames,)`` float64: ``[0, p[0], ..., p[n - 2]]``.

    Raises
    ------
    ValueError
        Not a non-empty 1-D array of finite non-negative values.
    """
    p = check_likelihood(probabilities, "probabilities")
    return np.concatenate([[0.0], p[:-1]])


def video_sync(
    name: str,
    f_shot: np.ndarray,
    rate_hz: float,
    shot_boundaries_s: np.ndarray,
    beats_s: np.ndarray,
    downbeats_s: np.ndarray,
    segment_boundaries_s: np.ndarray,
    *,
    sigma_s: float = DEFAULT_SIGMA_S,
) -> VideoSync:
    """The measures of one video from its analysis (no media decoding).

    Parameters
    ----------
    name : str
        A label for the video.
    f_shot : np.ndarray
        ``(n_frames,)`` cut likelihood at ``rate_hz``; the video lasts
        ``n_frames / rate_hz``.
    rate_hz : float
        Frame rate of ``f_shot``.
    shot_boundaries_s : np.ndarray
        ``(n_shots + 1,)`` strictly increasing shot boundaries including 0 and the end;
        every shot counts in the dominant shot length, the first and the last too.
    beats_s, downbeats_s : np.ndarray
        Sorted beat and downbeat times, seconds.
    segment_boundaries_s : np.ndarray
        Sorted music segment boundaries, seconds; the first and the last (the start
        and the end of the audio) are dropped, the others are the events.
    sigma_s : float
        Standard deviation of the window, seconds.

    Raises
    ------
    ValueError
        Bad likelihood, rate, times or sigma.
    """
    f = check_likelihood(f_shot)
    rate_hz = check_positive(rate_hz, "rate_hz")
    durations = shot_durations(shot_boundaries_s)
    beats = check_times(beats_s, "beats_s")
    downbeats = check_times(downbeats_s, "downbeats_s")
    inner = check_times(segment_boundaries_s, "segment_boundaries_s")[1:-1]
    duration = f.size / rate_hz
    span = (0.0, duration)

    def score(events: np.ndarray) -> tuple[float, int]:
        n = int(np.count_nonzero((events > 0) & (events < duration)))
        return cooccurrence_score(f, events, rate_hz=rate_hz, sigma_s=sigma_s, span_s=span), n

    s_bound, n_bound = score(inner)
    s_down, n_down = score(downbeats)
    beat, bar = median_period(beats), median_period(downbeats)
    tempo = (
        shot_tempo(dominant_shot_length(durations), beat, bar)
        if np.isfinite(beat) and np.isfinite(bar)
        else None
    )
    return VideoSync(
        name=name,
        duration_s=duration,
        n_shots=int(durations.size),
        n_boundaries=n_bound,
        n_downbeats=n_down,
        boundary_score=s_bound,
        downbeat_score=s_down,
        tempo=tempo,
    )


def analyse_video(
    path: str | os.PathLike[str],
    *,
    method: str = "olda",
    detector: Any = None,
    sigma_s: float = DEFAULT_SIGMA_S,
    parallel: bool | None = False,
) -> VideoSync:
    """Shots, downbeats and music structure of one music video, then :func:`video_sync`.

    Parameters
    ----------
    path : path
        A video file with a soundtrack.
    method : {"foote", "sf", "olda"}
        The MSAF segmenter of the music.
    detector : ml.media.shots.ShotDetector or None
        A detector to reuse (one is made otherwise: the network loads once per
        process either way).
    sigma_s : float
        Standard deviation of the window, seconds.
    parallel : bool or None
        Run the downbeat networks in a worker process (see
        :func:`ml.pipeline.analysis.analyse_track`).

    Raises
    ------
    ml.media.errors.MediaError
        The file cannot be decoded (a subclass says why).
    ValueError
        Unknown method or bad sigma.
    """
    from ml.media.shots import analyze_shots
    from ml.pipeline.analysis import analyse_track

    check_positive(sigma_s, "sigma_s")
    shots = analyze_shots(path, detector=detector)
    music = analyse_track(path, method, audio_extractors=(), parallel=parallel)
    return video_sync(
        Path(path).name,
        transition_to_cut_likelihood(shots.result.probabilities),
        shots.fps,
        shots.boundaries_s,
        music.beats.beats_s,
        music.beats.downbeats_s,
        music.boundaries_s[method],
        sigma_s=sigma_s,
    )


def find_videos(directory: str | os.PathLike[str]) -> list[Path]:
    """Video files under ``directory`` (recursively), by :data:`VIDEO_EXTENSIONS`, sorted.

    Raises
    ------
    NotADirectoryError
        ``directory`` is not a directory.
    """
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
    )


def analyse_folder(
    directory: str | os.PathLike[str],
    *,
    method: str = "olda",
    device: str = "auto",
    sigma_s: float = DEFAULT_SIGMA_S,
    parallel: bool | None = False,
    progress: Callable[[Path, VideoSync], None] | None = None,
) -> list[VideoSync]:
    """:func:`analyse_video` for every video of :func:`find_videos`.

    ``progress(path, result)`` is called after each video. The downbeat worker
    process, if ``parallel`` started one, is stopped at the end.
    """
    from ml.media.shots import ShotDetector
    from ml.pipeline.analysis import shutdown_worker

    videos = find_videos(directory)
    detector = ShotDetector(device=device)
    results = []
    try:
        for path in videos:
            result = analyse_video(
                path, method=method, detector=detector, sigma_s=sigma_s, parallel=parallel
            )
            results.append(result)
            if progress is not None:
                progress(path, result)
    finally:
        shutdown_worker()
    return results


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean of the finite values and its two-sided Student-t confidence interval.

    NaN values are left out; with one value the interval is ``(mean, mean)``, with
    none everything is NaN.

    Raises
    ------
    ValueError
        ``confidence`` outside (0, 1), or an infinite value.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    x = np.asarray(values, dtype=np.float64).ravel()
    if np.any(np.isinf(x)):
        raise ValueError("values contain infinities")
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), (float("nan"), float("nan"))
    mean = float(x.mean())
    if x.size < 2:
        return mean, (mean, mean)
    half = float(
        stats.t.ppf(0.5 + confidence / 2.0, df=x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    )
    return mean, (mean - half, mean + half)


def summarise(results: Sequence[VideoSync]) -> StudySummary:
    """The folder's means with 95 % CIs and its level counts."""
    b_mean, b_ci = mean_ci([r.boundary_score for r in results])
    d_mean, d_ci = mean_ci([r.downbeat_score for r in results])
    counts = {level: 0 for level in (*LEVELS, "none")}
    for r in results:
        counts[r.level] += 1
    return StudySummary(len(results), b_mean, b_ci, d_mean, d_ci, counts)


def format_table(results: Sequence[VideoSync], summary: StudySummary | None = None) -> str:
    """A plain-text table: one row per video, then the means and the level counts."""
    summary = summary or summarise(results)
    width = max([len("video"), *(len(r.name) for r in results)])
    head = (
        f"{'video':<{width}}  {'dur s':>6}  {'shots':>5}  {'S bound':>7}  {'n':>3}  "
        f"{'S down':>6}  {'n':>3}  {'shot s':>6}  {'beat s':>6}  {'bar s':>6}  level"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        t = r.tempo
        lengths = (
            f"{t.dominant_s:6.2f}  {t.beat_s:6.3f}  {t.bar_s:6.3f}"
            if t is not None
            else f"{'-':>6}  {'-':>6}  {'-':>6}"
        )
        lines.append(
            f"{r.name:<{width}}  {r.duration_s:6.1f}  {r.n_shots:5d}  "
            f"{_num(r.boundary_score):>7}  {r.n_boundaries:3d}  {_num(r.downbeat_score):>6}  "
            f"{r.n_downbeats:3d}  {lengths}  {r.level}"
        )
    n = summary.n_videos
    lines += [
        "",
        (
            f"S segment boundaries: mean {_num(summary.boundary_mean)}, 95% CI "
            f"[{_num(summary.boundary_ci[0])}, {_num(summary.boundary_ci[1])}]"
        ),
        (
            f"S downbeats:          mean {_num(summary.downbeat_mean)}, 95% CI "
            f"[{_num(summary.downbeat_ci[0])}, {_num(summary.downbeat_ci[1])}]"
        ),
        "dominant shot length: "
        + ", ".join(
            f"{level} level {summary.level_counts[level]}/{n}" for level in (*LEVELS, "none")
        ),
    ]
    return "\n".join(lines)


def _num(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.3f}"


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
