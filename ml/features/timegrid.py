"""The 1 Hz grid shared by all frame-feature extractors.

An extractor analyses short frames (STFT frames, sampled video frames) and
summarises them per second. The rules, identical for every extractor:

* a signal of ``duration_s`` seconds gives ``T = ceil(duration_s)`` rows
  (``n_seconds``): row ``t`` describes the second ``[t, t + 1)``;
* an analysis frame belongs to the second that contains its time stamp (the
  centre of an STFT frame, the presentation time of a video frame);
* **the last, partial second** is summarised from the frames it contains, however
  few: a track of 200.3 s has 201 rows, the last one describing 0.3 s. A
  trailing fragment shorter than one analysis hop may contain no frame at all;
  then, like any second without frames, it takes the statistics of the nearest
  frame (so no row is ever empty or NaN, and its content is the closest
  evidence there is).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["POOLING_STATS", "n_seconds", "pool_per_second"]

#: Statistics that :func:`pool_per_second` can compute.
POOLING_STATS = ("mean", "std", "max")

# Durations are often sums of floating-point frame durations (3 * (1/3) ...):
# 3.0000000001 s is 3 seconds, not 4.
_EPSILON_S = 1e-6


def n_seconds(duration_s: float) -> int:
    """Number of 1 Hz rows for a duration: ``ceil(duration_s)``, at least 1.

    Raises
    ------
    ValueError
        ``duration_s`` is not a positive finite number.
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be positive and finite, got {duration_s!r}")
    return max(1, math.ceil(duration_s - _EPSILON_S))


def pool_per_second(
    values: np.ndarray,
    times_s: np.ndarray,
    n_rows: int,
    stats: Sequence[str] = ("mean",),
) -> np.ndarray:
    """Summarise time-stamped frames per second.

    Parameters
    ----------
    values : np.ndarray
        ``(n_frames, d)`` frame values (or ``(n_frames,)``, treated as ``d = 1``).
    times_s : np.ndarray
        ``(n_frames,)`` non-decreasing time stamps in seconds. Frames at or
        after ``n_rows`` seconds count in the last row; frames before 0 in the first.
    n_rows : int
        Number of seconds, usually ``n_seconds(duration_s)``.
    stats : sequence of str
        Statistics from :data:`POOLING_STATS`, concatenated in this order:
        ``("mean", "std")`` gives ``(n_rows, 2 * d)``, means first.

    Returns
    -------
    np.ndarray
        ``(n_rows, len(stats) * d)`` float32. A second without frames gets the
        statistics of the single nearest frame (its std is 0).

    Raises
    ------
    ValueError
        No frames, mismatched lengths, decreasing times, or an unknown statistic.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    times_s = np.asarray(times_s, dtype=np.float64)
    if values.ndim != 2 or times_s.shape != (values.shape[0],):
        raise ValueError(f"values {values.shape} and times {times_s.shape} do not match")
    if values.shape[0] == 0 or n_rows < 1:
        raise ValueError("pooling needs at least one frame and one row")
    if np.any(np.diff(times_s) < 0):
        raise ValueError("frame times must be non-decreasing")
    unknown = set(stats) - set(POOLING_STATS)
    if unknown or not stats:
        raise ValueError(f"unknown statistics {sorted(unknown)}; choose from {POOLING_STATS}")

    row_of_frame = np.clip(np.floor(times_s).astype(np.int64), 0, n_rows - 1)
    rows, frames = _with_nearest_frame_for_empty_rows(row_of_frame, times_s, n_rows)
    grouped = values[frames]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    counts = np.diff(np.r_[starts, rows.size])[:, None]

    pooled = []
    mean = np.add.reduceat(grouped, starts, axis=0) / counts
    for stat in stats:
        if stat == "mean":
            pooled.append(mean)
        elif stat == "std":
            mean_sq = np.add.reduceat(grouped * grouped, starts, axis=0) / counts
            pooled.append(np.sqrt(np.maximum(mean_sq - mean * mean, 0.0)))
        else:
            pooled.append(np.maximum.reduceat(grouped, starts, axis=0))
    return np.concatenate(pooled, axis=1).astype(np.float32)


def _with_nearest_frame_for_empty_rows(
    row_of_frame: np.ndarray, times_s: np.ndarray, n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row, frame index) pairs sorted by row, every row present at least once."""
    frames = np.arange(row_of_frame.size)
    empty = np.setdiff1d(np.arange(n_rows), row_of_frame)
    if empty.size == 0:
        return row_of_frame, frames
    after = np.clip(np.searchsorted(times_s, empty, side="left"), 0, times_s.size - 1)
    before = np.clip(after - 1, 0, times_s.size - 1)
    # Distance from each candidate frame to the interval [t, t + 1).
    gap_after = np.maximum(times_s[after] - (empty + 1), 0.0)
    gap_before = np.maximum(empty - times_s[before], 0.0)
    nearest = np.where(gap_before <= gap_after, before, after)
    rows = np.concatenate([row_of_frame, empty])
    frames = np.concatenate([frames, nearest])
    order = np.argsort(rows, kind="stable")
    return rows[order], frames[order]
