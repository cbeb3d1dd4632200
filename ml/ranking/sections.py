"""Where a section (a span of music) lies in a track, on the track's downbeats.

A catalog track's segments are sections of a song, found by the music segmenter: long,
and an excerpt cut at any time starts inside one and is segmented differently, so
the segment pairs of an alignment place an excerpt only to within a section. The bar is
the unit both share: the same music has the same bar lines wherever it was cut. So a
section is placed by a second, local alignment over *bar windows*:

1. :func:`bar_windows`: from each downbeat, a window of ``bars`` bars (a phrase; hop
   one bar), fewer at the end of the music;
2. :func:`window_vectors`: the time-weighted mean frame feature of each window (as a
   segment vector; the model's music branch embeds it like one);
3. :func:`local_match`: Smith-Waterman over the two window sequences pairs track
   windows with query windows. Its scores are the cosines standardised over the whole
   matrix (z-scores): a local alignment needs pairs that score below chance to stop at,
   and cosines of one model's embeddings are mostly positive. The span of the track that
   matched runs from the first matched window's downbeat to the last one's end.

All times are seconds; frame features come at 1 Hz (:mod:`ml.features.timegrid`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.segments import segment_vectors

from .alignment import _sw_traceback
from .packed import check_sequence

__all__ = ["BARS_PER_WINDOW", "MatchedSpan", "bar_windows", "local_match", "window_vectors"]

#: Bars per window: a four-bar phrase, long enough for its mean at 1 Hz to be stable.
BARS_PER_WINDOW = 4
#: Gap penalty of :func:`local_match`, in standard deviations of the cosines: half a
#: window pair well above chance pays for a skipped window.
WINDOW_INDEL = 0.5


@dataclass(frozen=True)
class MatchedSpan:
    """The track's span ``track_start_s..track_end_s`` matching the query's
    ``query_start_s..query_end_s`` (both on downbeats, but an end may be the end of the
    music), and ``similarity``, the mean cosine of the matched window pairs."""

    track_start_s: float
    track_end_s: float
    query_start_s: float
    query_end_s: float
    similarity: float


def bar_windows(
    downbeats_s: np.ndarray, duration_s: float, bars: int = BARS_PER_WINDOW
) -> np.ndarray:
    """``(n, 2)`` windows ``[start, end)`` in seconds: one per downbeat inside the music,
    ``bars`` bars long, ending at ``duration_s`` at the latest; windows that end there
    the same as the one before are dropped (they hold nothing new).

    Raises
    ------
    ValueError
        No downbeat inside ``0..duration_s``, a non-positive duration or ``bars``.
    """
    if duration_s <= 0 or bars < 1:
        raise ValueError(f"need a positive duration and bars, got {duration_s}, {bars}")
    db = np.asarray(downbeats_s, np.float64)
    db = np.unique(db[(db >= 0) & (db < duration_s)])
    if db.size == 0:
        raise ValueError("no downbeat inside the music: it cannot be cut into bars")
    grid = np.append(db, duration_s)
    ends = grid[np.minimum(np.arange(db.size) + bars, db.size)]
    keep = np.ones(db.size, bool)
    keep[1:] = ends[1:] > ends[:-1]
    return np.stack([db[keep], ends[keep]], axis=1)


def window_vectors(features: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """``(n, D)`` float32 time-weighted mean of 1 Hz ``features`` ``(T, D)`` over each
    of ``windows`` ``(n, 2)`` (s), as :func:`ml.segments.segment_vectors` averages a
    segment."""
    windows = np.asarray(windows, np.float64)
    if windows.ndim != 2 or windows.shape[1] != 2 or len(windows) == 0:
        raise ValueError(f"windows must be a non-empty (n, 2) array, got {windows.shape}")
    edges = np.unique(np.concatenate([[0.0], windows.ravel()]))
    pieces = segment_vectors(features, edges).astype(np.float64)  # (len(edges) - 1, D)
    lengths = np.diff(edges)
    out = np.empty((len(windows), pieces.shape[1]))
    for k, (a, b) in enumerate(windows):
        i, j = np.searchsorted(edges, [a, b])
        out[k] = lengths[i:j] @ pieces[i:j] / (b - a)
    return out.astype(np.float32)


def local_match(
    track: np.ndarray,
    track_windows: np.ndarray,
    query: np.ndarray,
    query_windows: np.ndarray,
    *,
    indel: float = WINDOW_INDEL,
) -> MatchedSpan | None:
    """The best local match of the query's window embeddings ``(Nq, d)`` in the
    track's ``(Nc, d)`` (unit rows), as spans of their ``windows`` ``(N, 2)`` (s).
    None when no pair scores above chance (or every cosine is the same).

    Raises
    ------
    ml.ranking.RankingInputError
        Empty, non-finite or mismatched embeddings.
    ValueError
        Windows that are not one per embedding.
    """
    track = check_sequence(track, "track").astype(np.float64)
    query = check_sequence(query, "query", track.shape[1]).astype(np.float64)
    if len(track_windows) != len(track) or len(query_windows) != len(query):
        raise ValueError("need one window per embedding")
    sims = track @ query.T
    spread = float(sims.std())
    if spread == 0.0:
        return None
    _, pairs = _sw_traceback((sims - sims.mean()) / spread, float(indel))
    if len(pairs) == 0:
        return None
    (t0, q0), (t1, q1) = pairs[0], pairs[-1]
    return MatchedSpan(
        float(track_windows[t0, 0]),
        float(track_windows[t1, 1]),
        float(query_windows[q0, 0]),
        float(query_windows[q1, 1]),
        float(sims[pairs[:, 0], pairs[:, 1]].mean()),
    )
