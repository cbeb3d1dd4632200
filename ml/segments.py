"""Segment vectors: frame features averaged over segments, and boundary bookkeeping.

A segmentation is a sorted array of boundaries in seconds that starts at 0 and
ends at the duration, so ``K + 1`` boundaries make ``K`` segments
``[b_k, b_{k+1})``. Frame features come at ``rate_hz`` rows per second; row
``i`` describes ``[i / rate_hz, (i + 1) / rate_hz)`` (see
:mod:`ml.features.timegrid`, whose last row describes the final partial second).

**Segment vector = time-weighted mean.** Each row weighs by how much of its
interval lies inside the segment. For boundaries on whole seconds this is the
plain mean of the rows inside the segment (docs/method.md); for boundaries inside a
second it splits that row between the two segments instead of giving it to one
of them. It also settles **segments shorter than one frame**: a 0.3 s segment
is the row (or the two rows) it overlaps, never empty. A segment lying beyond
the last row (the other modality of a clip can be a little longer) takes the
last row.

**Boundary transfer.** In training, one modality's boundaries cut the other
modality of the same clip (docs/method.md §2); the two streams rarely have the same
duration to the millisecond. :func:`transfer_boundaries` keeps the interior
boundaries that fall inside the target, ends the segmentation at the target's
duration, and can snap boundaries to a grid of the target (downbeats, frame
times) and merge segments that end up too short.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SegmentationError",
    "clean_boundaries",
    "segment_vectors",
    "segment_weights",
    "transfer_boundaries",
    "validate_boundaries",
]


class SegmentationError(ValueError):
    """Boundaries that do not describe a segmentation: unsorted, repeated,
    not starting at 0, empty, or not finite. The message says which."""


def validate_boundaries(boundaries_s: np.ndarray) -> np.ndarray:
    """Check a segmentation and return it as float64.

    Raises
    ------
    SegmentationError
        Fewer than two boundaries, a first boundary other than 0, boundaries
        not strictly increasing, or non-finite values.
    """
    b = np.asarray(boundaries_s, dtype=np.float64)
    if b.ndim != 1 or b.size < 2:
        raise SegmentationError(f"need at least two boundaries (0 and the duration), got {b!r}")
    if not np.all(np.isfinite(b)):
        raise SegmentationError("boundaries must be finite")
    if b[0] != 0.0:
        raise SegmentationError(f"the first boundary must be 0, got {b[0]!r}")
    if np.any(np.diff(b) <= 0):
        raise SegmentationError("boundaries must be strictly increasing (no empty segment)")
    return b


def clean_boundaries(
    boundaries_s: np.ndarray, duration_s: float, *, min_segment_s: float = 0.0
) -> np.ndarray:
    """Turn raw boundary times into a valid segmentation of ``[0, duration_s]``.

    Sorts, drops times outside ``(0, duration_s)``, adds 0 and the duration,
    and, scanning forward, removes every boundary closer than ``min_segment_s``
    to the previous kept one (the too-short segment joins the one after it);
    a too-short last segment joins the one before it.

    Raises
    ------
    SegmentationError
        ``duration_s`` is not positive and finite, or ``min_segment_s`` is negative.
    """
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise SegmentationError(f"duration_s must be positive, got {duration_s!r}")
    if min_segment_s < 0:
        raise SegmentationError(f"min_segment_s must be >= 0, got {min_segment_s!r}")
    raw = np.sort(np.asarray(boundaries_s, dtype=np.float64).ravel())
    raw = raw[np.isfinite(raw) & (raw > 0) & (raw < duration_s)]
    kept = [0.0]
    for t in raw:
        if t > kept[-1] and t - kept[-1] >= min_segment_s:
            kept.append(float(t))
    if len(kept) > 1 and duration_s - kept[-1] < min_segment_s:
        kept.pop()
    kept.append(float(duration_s))
    return np.asarray(kept)


def transfer_boundaries(
    boundaries_s: np.ndarray,
    target_duration_s: float,
    *,
    snap_to_s: np.ndarray | None = None,
    min_segment_s: float = 0.0,
) -> np.ndarray:
    """Apply one modality's segmentation to another stream of the same clip.

    Parameters
    ----------
    boundaries_s : np.ndarray
        The source segmentation (0 ... source duration).
    target_duration_s : float
        Duration of the stream to cut.
    snap_to_s : np.ndarray or None
        Optional grid of the target (e.g. its downbeats): each interior
        boundary moves to the nearest grid time.
    min_segment_s : float
        Segments shorter than this after transfer and snapping are merged into
        the previous one (see :func:`clean_boundaries`).

    Returns
    -------
    np.ndarray
        A valid segmentation of ``[0, target_duration_s]``. The source's last
        boundary (its own duration) is not carried over: the target ends at its
        own duration, so a slightly longer target does not gain a sliver
        segment and a shorter one does not lose its end.
    """
    source = validate_boundaries(boundaries_s)
    interior = source[1:-1]
    if snap_to_s is not None:
        grid = np.sort(np.asarray(snap_to_s, dtype=np.float64).ravel())
        grid = grid[np.isfinite(grid)]
        if grid.size:
            right = np.clip(np.searchsorted(grid, interior), 0, grid.size - 1)
            left = np.clip(right - 1, 0, grid.size - 1)
            closer_left = np.abs(interior - grid[left]) <= np.abs(grid[right] - interior)
            interior = np.where(closer_left, grid[left], grid[right])
    return clean_boundaries(interior, target_duration_s, min_segment_s=min_segment_s)


def segment_weights(boundaries_s: np.ndarray, n_rows: int, rate_hz: float = 1.0) -> np.ndarray:
    """The ``(K, n_rows)`` matrix whose row ``k`` averages frames into segment ``k``.

    Entry ``(k, i)`` is the share of segment ``k``'s (clipped) duration covered by
    frame ``i``'s interval; rows sum to 1. See the module docstring for the
    rules on short segments and segments past the last frame.
    """
    b = validate_boundaries(boundaries_s)
    if n_rows < 1:
        raise SegmentationError("no frame features to average")
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise SegmentationError(f"rate_hz must be positive, got {rate_hz!r}")
    end_of_features = n_rows / rate_hz
    starts, ends = b[:-1], b[1:]
    frame_starts = np.arange(n_rows) / rate_hz
    frame_ends = frame_starts + 1.0 / rate_hz
    overlap = np.clip(
        np.minimum(ends[:, None], frame_ends[None, :])
        - np.maximum(starts[:, None], frame_starts[None, :]),
        0.0,
        None,
    )
    beyond = starts >= end_of_features  # the other stream ran longer than these features
    overlap[beyond, :] = 0.0
    overlap[beyond, -1] = 1.0
    return overlap / overlap.sum(axis=1, keepdims=True)


def segment_vectors(
    frame_features: np.ndarray, boundaries_s: np.ndarray, rate_hz: float = 1.0
) -> np.ndarray:
    """Mean frame feature of each segment, weighted by time overlap.

    Parameters
    ----------
    frame_features : np.ndarray
        ``(T, D)`` features at ``rate_hz`` rows per second.
    boundaries_s : np.ndarray
        ``K + 1`` boundaries in seconds, from 0 to the duration.
    rate_hz : float
        Rows per second of ``frame_features``.

    Returns
    -------
    np.ndarray
        ``(K, D)`` float32.

    Raises
    ------
    SegmentationError
        Invalid boundaries (see :func:`validate_boundaries`), or no features.
    ValueError
        ``frame_features`` is not a 2-D array.
    """
    features = np.asarray(frame_features)
    if features.ndim != 2:
        raise ValueError(f"frame_features must be (T, D), got shape {features.shape}")
    weights = segment_weights(boundaries_s, features.shape[0], rate_hz)
    return (weights @ features.astype(np.float64)).astype(np.float32)
