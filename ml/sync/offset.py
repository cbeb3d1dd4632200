"""Where on a track a video's cuts fall on the music: the co-occurrence score S at
candidate offsets, for one track or a whole shortlist at once.

A query video of duration ``D`` with cuts ``c_j`` (seconds from its start) is laid
on a track from offset ``o`` (seconds into the track): track time ``o + t`` plays
under video time ``t``. A track event at ``e`` (a downbeat, or a music-segment
boundary) then falls at video time ``e - o``; the events strictly inside the video,
``0 < e - o < D``, each score ``S_i = sum_j w(c_j - (e - o))`` (the window of
:mod:`ml.sync.cooccurrence`, on the exact cut times: no frame grid), and the offset
scores their mean (NaN when no event falls inside). Events at the very start or end
of the video are left out, so that an offset on a downbeat, whose first downbeat
always lands on the video's first frame, is not compared unfairly with one between
downbeats. The cuts' window sum is tabulated once per query every ``sigma / 80`` and
interpolated linearly, so scores are accurate to about 2e-5 per cut within reach of
an event (:func:`ml.sync.cooccurrence.window_sums` gives them exactly); equal
relative times give equal scores, so exact ties stay ties.

The candidate offsets of a track (:func:`candidate_offsets`) are a prior offset, such
as the one the learned alignment proposes, if one is given, then every downbeat ``d``
at which the video fits (``d + D <= track duration``), the natural start of a music
edit; a track on which no downbeat fits is laid from its start (offset 0).

Two scores per offset, on downbeats and on segment boundaries, and their combination,
the mean of ``S_i`` over both kinds of event with boundaries weighted by ``beta``:

    score = (sum_downbeats S_i + beta sum_boundaries S_i) / (n_downbeats + beta n_boundaries)

with ``beta = 1`` by default: every music event counts once, and a section change
that falls on a downbeat (as it usually does) counts twice. A mean over events, not
an average of the two means, because the search takes the maximum over dozens of
offsets: a video of 30 s holds one or two section boundaries, and giving their mean
half the weight would let one boundary that meets a cut by chance (about one offset
in ten with a cut every two seconds) outweigh a dozen downbeats.

The best offset of a track has the highest score; ties go to the earlier candidate,
so to the prior first: when the cuts cannot tell offsets apart, the learned
alignment's choice stands.

:func:`best_offsets` does this for a shortlist in numpy passes over all (track,
offset, event) triples at once, with no Python loop over tracks or offsets (1,000
tracks of 3-4 minutes, about 80,000 candidate offsets for a 30 s video, take about
30 ms of CPU, ``python -m bench.bench_sync``); :func:`best_offset` adds, for one track, the per-event matches that explain the
result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ml.sync._checks import check_positive, check_times
from ml.sync.cooccurrence import DEFAULT_SIGMA_S, TRUNCATE, EventMatches, _match

__all__ = [
    "DEFAULT_BOUNDARY_WEIGHT",
    "BatchSync",
    "OffsetSync",
    "TrackEvents",
    "best_offset",
    "best_offsets",
    "candidate_offsets",
    "combine_scores",
    "offset_scores",
]

#: Weight ``beta`` of a section boundary against a downbeat in the combined score.
DEFAULT_BOUNDARY_WEIGHT = 1.0
#: Slack on "the video fits" (seconds), against float rounding of stored times.
_FIT_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class TrackEvents:
    """The music events of one catalog track.

    Attributes
    ----------
    downbeats_s : np.ndarray
        ``(n_downbeats,)`` sorted downbeat times in seconds.
    boundaries_s : np.ndarray
        ``(n_boundaries,)`` sorted music-segment boundaries in seconds (0 and the
        duration may be included: they never fall strictly inside a video that
        the track covers).
    duration_s : float
        Length of the track in seconds.
    beats_s : np.ndarray
        ``(n_beats,)`` sorted beat times in seconds, downbeats included (only
        :mod:`ml.sync.beat_grid` reads them; empty by default).

    Raises
    ------
    ValueError
        Times that are not finite, non-negative and sorted, or a duration that is
        not positive.
    """

    downbeats_s: np.ndarray
    boundaries_s: np.ndarray
    duration_s: float
    beats_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        object.__setattr__(self, "downbeats_s", check_times(self.downbeats_s, "downbeats_s"))
        object.__setattr__(self, "beats_s", check_times(self.beats_s, "beats_s"))
        object.__setattr__(self, "boundaries_s", check_times(self.boundaries_s, "boundaries_s"))
        object.__setattr__(self, "duration_s", check_positive(self.duration_s, "duration_s"))


@dataclass(frozen=True)
class BatchSync:
    """The best offset of every track of a shortlist, and its scores.

    Attributes
    ----------
    offset_s : np.ndarray
        ``(n_tracks,)`` the best offset of each track, seconds into the track.
    downbeat_score, boundary_score : np.ndarray
        ``(n_tracks,)`` S on downbeats and on boundaries at that offset (NaN when no
        such event falls inside the video).
    score : np.ndarray
        ``(n_tracks,)`` the combined score (:func:`combine_scores`) at that offset,
        higher is better; NaN when no event at all falls inside the video at any
        candidate offset.
    n_downbeats, n_boundaries : np.ndarray
        ``(n_tracks,)`` int64, the events inside the video at that offset.
    n_candidates : np.ndarray
        ``(n_tracks,)`` int64, how many offsets were tried per track.
    """

    offset_s: np.ndarray
    downbeat_score: np.ndarray
    boundary_score: np.ndarray
    score: np.ndarray
    n_downbeats: np.ndarray
    n_boundaries: np.ndarray
    n_candidates: np.ndarray


@dataclass(frozen=True)
class OffsetSync:
    """One track's best offset, its scores, every candidate's score, and the
    matches that explain it.

    Attributes
    ----------
    offset_s : float
        The best offset, seconds into the track.
    downbeat_score, boundary_score, score : float
        S on downbeats, on boundaries, and combined, at that offset.
    offsets_s : np.ndarray
        ``(n_candidates,)`` the candidate offsets, in the order tried.
    scores : np.ndarray
        ``(n_candidates,)`` the combined score of each candidate.
    downbeat_matches, boundary_matches : EventMatches
        The events inside the video at the best offset, in video time (add
        ``offset_s`` for track time), each with its nearest cut.
    """

    offset_s: float
    downbeat_score: float
    boundary_score: float
    score: float
    offsets_s: np.ndarray
    scores: np.ndarray
    downbeat_matches: EventMatches
    boundary_matches: EventMatches

    def explain(self) -> list[str]:
        """One sentence per event inside the video, boundaries first, in video time."""
        return [
            self.boundary_matches.explain(i, "section change")
            for i in range(len(self.boundary_matches))
        ] + [
            self.downbeat_matches.explain(i, "downbeat") for i in range(len(self.downbeat_matches))
        ]


def candidate_offsets(
    downbeats_s: np.ndarray,
    track_duration_s: float,
    video_duration_s: float,
    prior_offset_s: float | None = None,
) -> np.ndarray:
    """The offsets tried for one track: the prior, then every downbeat where the video fits.

    Parameters
    ----------
    downbeats_s : np.ndarray
        ``(n_downbeats,)`` sorted downbeat times of the track, seconds.
    track_duration_s, video_duration_s : float
        Lengths in seconds, > 0.
    prior_offset_s : float or None
        An offset to try first (any finite value, negative when the video starts
        before the track); ``None`` or NaN for none.

    Returns
    -------
    np.ndarray
        ``(n_candidates,)`` float64 offsets in seconds, at least one: ``[0.0]`` when
        there is no prior and no downbeat fits.

    Raises
    ------
    ValueError
        Bad times, lengths or prior.
    """
    track = TrackEvents(downbeats_s, np.zeros(0), track_duration_s)
    video_duration_s = check_positive(video_duration_s, "video_duration_s")
    priors = _checked_priors(None if prior_offset_s is None else [prior_offset_s], 1)
    offsets, _, _ = _candidates([track], video_duration_s, priors)
    return offsets


def offset_scores(
    cut_times_s: np.ndarray,
    video_duration_s: float,
    event_times_s: np.ndarray,
    offsets_s: np.ndarray,
    *,
    sigma_s: float = DEFAULT_SIGMA_S,
) -> tuple[np.ndarray, np.ndarray]:
    """S of one kind of track events with the video laid at each offset.

    Parameters
    ----------
    cut_times_s : np.ndarray
        ``(n_cuts,)`` sorted cut times in video time, within ``[0, video_duration_s]``
        (the starts of shots 2, 3, ...; neither 0 nor the end).
    video_duration_s : float
        Length of the video, seconds.
    event_times_s : np.ndarray
        ``(n_events,)`` sorted event times in track time, seconds.
    offsets_s : np.ndarray
        ``(n_offsets,)`` finite offsets in seconds, any order.
    sigma_s : float
        Standard deviation of the window, seconds.

    Returns
    -------
    scores : np.ndarray
        ``(n_offsets,)`` float64 S at each offset, NaN when no event falls inside.
    counts : np.ndarray
        ``(n_offsets,)`` int64, the number of events inside the video.

    Raises
    ------
    ValueError
        Bad times, lengths, offsets or sigma.
    """
    cuts, duration, sigma_s = _checked_query(cut_times_s, video_duration_s, sigma_s)
    events = check_times(event_times_s, "event_times_s")
    offsets = np.asarray(offsets_s, dtype=np.float64)
    if offsets.ndim != 1 or not np.all(np.isfinite(offsets)):
        raise ValueError("offsets_s must be a 1-D array of finite seconds")
    tid = np.zeros(offsets.size, dtype=np.int64)
    return _scores(
        _CutTable(cuts, duration, sigma_s), events, np.zeros(events.size, np.int64), offsets, tid
    )


def combine_scores(
    downbeat_score: np.ndarray,
    n_downbeats: np.ndarray,
    boundary_score: np.ndarray,
    n_boundaries: np.ndarray,
    boundary_weight: float = DEFAULT_BOUNDARY_WEIGHT,
) -> np.ndarray:
    """The mean ``S_i`` over downbeats and boundaries, a boundary weighing ``beta``.

    ``(n_d S_d + beta n_b S_b) / (n_d + beta n_b)``, where a kind with no event
    inside the video (count 0, score NaN) drops out.

    Parameters
    ----------
    downbeat_score, boundary_score : np.ndarray
        S on each kind of event, same shape (NaN where the count is 0).
    n_downbeats, n_boundaries : np.ndarray
        Non-negative event counts, same shape.
    boundary_weight : float
        ``beta >= 0``.

    Returns
    -------
    np.ndarray
        Float64 combined scores; NaN where both counts are 0 (or ``beta = 0`` and
        no downbeat falls inside).

    Raises
    ------
    ValueError
        ``boundary_weight`` negative or not finite, shapes that differ, negative
        counts, or a NaN score with a positive count.
    """
    beta = _checked_weight(boundary_weight)
    arrays = [
        np.asarray(a, dtype=np.float64)
        for a in (downbeat_score, n_downbeats, boundary_score, n_boundaries)
    ]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"score and count shapes differ: {[a.shape for a in arrays]}")
    s_d, n_d, s_b, n_b = arrays
    if np.any(n_d < 0) or np.any(n_b < 0):
        raise ValueError("event counts must be non-negative")
    if np.any(np.isnan(s_d) & (n_d > 0)) or np.any(np.isnan(s_b) & (n_b > 0)):
        raise ValueError("a score is NaN where its event count is positive")
    total = np.where(n_d > 0, n_d * s_d, 0.0) + beta * np.where(n_b > 0, n_b * s_b, 0.0)
    weight = n_d + beta * n_b
    out = np.full(weight.shape, np.nan)
    np.divide(total, weight, out=out, where=weight > 0)
    return out


def best_offsets(
    cut_times_s: np.ndarray,
    video_duration_s: float,
    tracks: Sequence[TrackEvents],
    *,
    prior_offsets_s: np.ndarray | None = None,
    sigma_s: float = DEFAULT_SIGMA_S,
    boundary_weight: float = DEFAULT_BOUNDARY_WEIGHT,
) -> BatchSync:
    """The best offset of every track of a shortlist, vectorised over tracks and offsets.

    Parameters
    ----------
    cut_times_s : np.ndarray
        ``(n_cuts,)`` sorted cut times of the query in video time, seconds.
    video_duration_s : float
        Length of the query video, seconds.
    tracks : sequence of TrackEvents
        The shortlist.
    prior_offsets_s : np.ndarray or None
        ``(n_tracks,)`` an offset to try first per track (NaN for none), e.g. the
        learned alignment's; ``None`` for none at all.
    sigma_s : float
        Standard deviation of the window, seconds.
    boundary_weight : float
        ``beta`` of :func:`combine_scores`.

    Raises
    ------
    TypeError
        A track is not a :class:`TrackEvents`.
    ValueError
        Bad query, priors, sigma or weight.
    """
    cuts, duration, sigma_s = _checked_query(cut_times_s, video_duration_s, sigma_s)
    _checked_weight(boundary_weight)
    tracks = list(tracks)
    if not all(isinstance(t, TrackEvents) for t in tracks):
        raise TypeError("tracks must be a sequence of TrackEvents")
    priors = _checked_priors(prior_offsets_s, len(tracks))
    offsets, tid, source = _candidates(tracks, duration, priors)
    (down, n_down), (bound, n_bound) = _all_scores(
        cuts, duration, sigma_s, tracks, offsets, tid, source
    )
    score = combine_scores(down, n_down, bound, n_bound, boundary_weight)
    best = _best_per_track(score, tid, len(tracks))
    return BatchSync(
        offset_s=offsets[best],
        downbeat_score=down[best],
        boundary_score=bound[best],
        score=score[best],
        n_downbeats=n_down[best],
        n_boundaries=n_bound[best],
        n_candidates=np.bincount(tid, minlength=len(tracks)).astype(np.int64),
    )


def best_offset(
    cut_times_s: np.ndarray,
    video_duration_s: float,
    track: TrackEvents,
    *,
    prior_offset_s: float | None = None,
    sigma_s: float = DEFAULT_SIGMA_S,
    boundary_weight: float = DEFAULT_BOUNDARY_WEIGHT,
) -> OffsetSync:
    """The best offset of one track, every candidate's score, and the matches there.

    Parameters are those of :func:`best_offsets` for a single track.

    Raises
    ------
    TypeError
        ``track`` is not a :class:`TrackEvents`.
    ValueError
        Bad query, prior, sigma or weight.
    """
    cuts, duration, sigma_s = _checked_query(cut_times_s, video_duration_s, sigma_s)
    _checked_weight(boundary_weight)
    if not isinstance(track, TrackEvents):
        raise TypeError(f"track must be TrackEvents, got {type(track).__name__}")
    priors = _checked_priors(None if prior_offset_s is None else [prior_offset_s], 1)
    offsets, tid, source = _candidates([track], duration, priors)
    (down, n_down), (bound, n_bound) = _all_scores(
        cuts, duration, sigma_s, [track], offsets, tid, source
    )
    scores = combine_scores(down, n_down, bound, n_bound, boundary_weight)
    k = int(_best_per_track(scores, tid, 1)[0])
    o = float(offsets[k])

    def matches(events: np.ndarray) -> EventMatches:
        rel = events - o
        return _match(cuts, rel[(rel > 0) & (rel < duration)], sigma_s)

    return OffsetSync(
        offset_s=o,
        downbeat_score=float(down[k]),
        boundary_score=float(bound[k]),
        score=float(scores[k]),
        offsets_s=offsets,
        scores=scores,
        downbeat_matches=matches(track.downbeats_s),
        boundary_matches=matches(track.boundaries_s),
    )


def _checked_query(
    cut_times_s: np.ndarray, video_duration_s: float, sigma_s: float
) -> tuple[np.ndarray, float, float]:
    duration = check_positive(video_duration_s, "video_duration_s")
    cuts = check_times(cut_times_s, "cut_times_s")
    if cuts.size and cuts[-1] > duration:
        raise ValueError(
            f"cut_times_s has a cut at {cuts[-1]:g} s, after the video's end ({duration:g} s)"
        )
    return cuts, duration, check_positive(sigma_s, "sigma_s")


def _checked_weight(boundary_weight: float) -> float:
    try:
        beta = float(boundary_weight)
    except (TypeError, ValueError) as err:
        raise ValueError(f"boundary_weight must be a number >= 0, got {boundary_weight!r}") from err
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"boundary_weight must be a finite number >= 0, got {boundary_weight!r}")
    return beta


def _checked_priors(prior_offsets_s: object, n_tracks: int) -> np.ndarray:
    """Priors as ``(n_tracks,)`` float64, NaN for none."""
    if prior_offsets_s is None:
        return np.full(n_tracks, np.nan)
    try:
        priors = np.asarray(prior_offsets_s, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError("prior offsets must be numbers (NaN for none)") from err
    if priors.shape != (n_tracks,):
        raise ValueError(f"prior offsets must have shape ({n_tracks},), got {priors.shape}")
    if np.any(np.isinf(priors)):
        raise ValueError("prior offsets must be finite (NaN for none)")
    return priors


def _candidates(
    tracks: Sequence[TrackEvents], duration: float, priors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All candidates, grouped by track, in the order tried: (offsets, track ids, source).

    ``source`` is the candidate's index among all tracks' downbeats concatenated when
    it is a downbeat, -1 for a prior or the fallback offset 0. Per track: the prior,
    then the downbeats in time order, or else 0.
    """
    n = len(tracks)
    downbeats, db_tid = _concatenated(tracks, "downbeats_s")
    track_end = np.array([t.duration_s for t in tracks], dtype=np.float64)
    fits = downbeats + duration <= track_end[db_tid] + _FIT_TOLERANCE_S
    has_prior = ~np.isnan(priors)
    per_track = np.bincount(db_tid[fits], minlength=n) + has_prior
    fallback = np.flatnonzero(per_track == 0)
    offsets = np.concatenate([priors[has_prior], downbeats[fits], np.zeros(fallback.size)])
    tid = np.concatenate([np.flatnonzero(has_prior), db_tid[fits], fallback])
    source = np.concatenate(
        [np.full(has_prior.sum(), -1), np.flatnonzero(fits), np.full(fallback.size, -1)]
    ).astype(np.int64)
    kind = np.concatenate(
        [
            np.zeros(has_prior.sum(), np.int64),
            np.ones(fits.sum(), np.int64),
            np.full(fallback.size, 2, np.int64),
        ]
    )
    order = np.argsort(3 * tid + kind, kind="stable")  # downbeats stay in time order
    return offsets[order], tid[order], source[order]


def _concatenated(tracks: Sequence[TrackEvents], field: str) -> tuple[np.ndarray, np.ndarray]:
    """One kind of event of all tracks, concatenated, and the track id of each."""
    arrays = [getattr(t, field) for t in tracks]
    if not arrays:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(arrays), np.repeat(np.arange(len(arrays)), [a.size for a in arrays])


def _all_scores(
    cuts: np.ndarray,
    duration: float,
    sigma_s: float,
    tracks: Sequence[TrackEvents],
    offsets: np.ndarray,
    tid: np.ndarray,
    source: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(S, count) on downbeats and on boundaries for every candidate.

    Downbeat candidates against downbeats, most of the work, go through
    :func:`_band_scores`; the rest through :func:`_scores`.
    """
    table = _CutTable(cuts, duration, sigma_s)
    downbeats, db_tid = _concatenated(tracks, "downbeats_s")
    down = np.full(offsets.size, np.nan)
    n_down = np.zeros(offsets.size, np.int64)
    on_beat = source >= 0
    band_s, band_n = _band_scores(table, downbeats, db_tid)
    down[on_beat], n_down[on_beat] = band_s[source[on_beat]], band_n[source[on_beat]]
    down[~on_beat], n_down[~on_beat] = _scores(
        table, downbeats, db_tid, offsets[~on_beat], tid[~on_beat]
    )
    boundaries, b_tid = _concatenated(tracks, "boundaries_s")
    return [(down, n_down), _scores(table, boundaries, b_tid, offsets, tid)]


class _CutTable:
    """The window sum of the query's cuts, ``g(t) = sum_j w(c_j - t)`` for ``t`` in
    ``[0, D]``, tabulated every ``sigma / 80`` and read by linear interpolation.

    The interpolation error is at most ``h^2 / 8 max|g''| = 1 / 51200`` (2e-5) per
    cut within reach, whatever sigma: S at an offset is accurate to about 2e-5. The
    table is built by adding each cut's window on its own stretch of the grid.
    """

    STEPS_PER_SIGMA = 80

    def __init__(self, cuts: np.ndarray, duration: float, sigma_s: float) -> None:
        self.step = sigma_s / self.STEPS_PER_SIGMA
        self.inverse_step = 1.0 / self.step
        n = int(np.floor(duration / self.step)) + 2
        reach = int(np.ceil(TRUNCATE * self.STEPS_PER_SIGMA))
        centre = np.rint(cuts / self.step).astype(np.int64)
        index = centre[:, None] + np.arange(-reach, reach + 1)
        keep = (index >= 0) & (index < n)
        w = np.exp(-0.5 * ((index * self.step - cuts[:, None]) / sigma_s) ** 2)
        self.values = np.bincount(index[keep], weights=w[keep], minlength=n)
        self.limit = float(duration)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """``g`` at times ``t`` in ``[0, D]``."""
        x = t * self.inverse_step
        i = x.astype(np.intp)
        x -= i
        left = self.values[i]
        right = self.values[i + 1]
        right -= left
        right *= x
        right += left
        return right


def _band_scores(
    table: _CutTable, downbeats: np.ndarray, db_tid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """S and count of the downbeats inside the video, for every downbeat as the offset.

    The events of offset ``d_i`` are ``d_{i+1}, d_{i+2}, ...`` of the same track while
    ``d_{i+k} - d_i < D``: step ``k`` compares the array with itself shifted by ``k``,
    so the work is a few contiguous passes per ``k`` (``k`` up to the most downbeats
    that fit in the video), with no index arithmetic.
    """
    n = downbeats.size
    total = np.zeros(n)
    count = np.zeros(n, np.int64)
    for k in range(1, n):
        rel = downbeats[k:] - downbeats[:-k]
        inside = db_tid[k:] == db_tid[:-k]
        inside &= rel < table.limit
        if not inside.any():
            break
        inside &= rel > 0
        rel *= inside  # 0 outside: a valid place to read the table
        values = table(rel)
        values *= inside
        total[:-k] += values
        count[:-k] += inside
    scores = np.full(n, np.nan)
    np.divide(total, count, out=scores, where=count > 0)
    return scores, count


def _scores(
    table: _CutTable,
    events: np.ndarray,
    ev_tid: np.ndarray,
    offsets: np.ndarray,
    off_tid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """S and count of each offset's track events strictly inside ``(o, o + D)``.

    Events (sorted within each track, tracks in id order) and offsets become keys
    ``track_id * stride + time + shift`` on one line, where the tracks' ranges do not
    overlap, so two ``searchsorted`` calls find every offset's events in its own
    track (with a little slack); ``0 < e - o < D`` then decides exactly, as in
    :func:`_band_scores`. Step ``k`` reads the ``k``-th event of every offset that
    has one, so the work is the number of (offset, event) pairs.
    """
    n_off = offsets.size
    if n_off == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    duration = table.limit
    slack = 1e-6
    shift = max(0.0, -float(offsets.min())) + slack
    top = max(float(events.max()) if events.size else 0.0, float(offsets.max()) + duration)
    stride = top + shift + 1.0
    ev_key = ev_tid * stride + (events + shift)
    lo = np.searchsorted(ev_key, off_tid * stride + (offsets + shift - slack), side="left")
    hi = np.searchsorted(
        ev_key, off_tid * stride + (offsets + duration + shift + slack), side="right"
    )
    counts = hi - lo
    sums = np.zeros(n_off)
    n_inside = np.zeros(n_off, np.int64)
    active = np.arange(n_off)
    for k in range(int(counts.max(initial=0))):  # the k-th event of every offset at once
        active = active[counts[active] > k]
        rel = events[lo[active] + k] - offsets[active]
        inside = (rel > 0) & (rel < duration)
        rel *= inside  # 0 outside: a valid place to read the table
        values = table(rel)
        values *= inside
        sums[active] += values
        n_inside[active] += inside
    scores = np.full(n_off, np.nan)
    np.divide(sums, n_inside, out=scores, where=n_inside > 0)
    return scores, n_inside


def _best_per_track(score: np.ndarray, tid: np.ndarray, n_tracks: int) -> np.ndarray:
    """Index of each track's highest score (NaN lowest; ties to the earlier candidate).

    ``tid`` is sorted and every track has at least one candidate.
    """
    filled = np.where(np.isnan(score), -np.inf, score)
    starts = np.searchsorted(tid, np.arange(n_tracks), side="left")
    is_max = filled == np.maximum.reduceat(filled, starts)[tid]
    first = np.flatnonzero(is_max)
    return first[np.searchsorted(tid[first], np.arange(n_tracks), side="left")]
