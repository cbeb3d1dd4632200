"""The co-occurrence score S of cuts and music events (docs/method.md §9).

For a per-frame cut likelihood ``f_shot`` sampled at ``rate_hz`` (TransNetV2's
transition probability at 25 Hz in the thesis) and music events ``t_i`` (downbeats,
or music-segment boundaries), each event scores

    S_i = sum_n w(n / rate_hz - t_i) f_shot[n],    w(x) = exp(-x^2 / (2 sigma^2)),

a Gaussian window of peak 1 and standard deviation ``sigma_s`` (2 frames at 25 Hz,
0.08 s, by default; ``+-3 sigma`` spans the "about 0.5 s" of docs/method.md), and the clip
scores ``S``, the mean of ``S_i`` over the events
that lie inside the video. One cut exactly on an event gives ``S_i = 1``, a cut
0.08 s away ``exp(-1/2) = 0.61``, 0.24 s away ``0.011``: S is a precision-like
"share of music events that a cut explains". ``S_i`` is a sum, not a maximum, so a
transition spread over several frames, or two cuts within a few frames of each
other, can give ``S_i > 1``; impulses one per cut (:func:`cut_likelihood`) and cuts
more than ``6 sigma`` apart keep it within [0, 1].

A list of cut times becomes a likelihood of unit impulses on the frame grid with
:func:`cut_likelihood`. :func:`window_sums` is the same sum for impulses at arbitrary
times (exact cut times, no frame grid); :mod:`ml.sync.offset` uses it to score
hundreds of offsets at once. :func:`match_events` pairs every event with its nearest
cut, for explanations such as "cut at 12.48 s hits the downbeat at 12.50 s (20 ms
early)".

Events "inside the video" are those strictly between its start and its end: the
first frame and the end of a video are edits by definition and say nothing about
synchronisation (the window would also be cut in half there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.sync._checks import check_likelihood, check_positive, check_times

__all__ = [
    "DEFAULT_RATE_HZ",
    "DEFAULT_SIGMA_S",
    "HIT_WEIGHT",
    "EventMatches",
    "cooccurrence_score",
    "cut_likelihood",
    "event_scores",
    "gaussian_window",
    "match_events",
    "window_sums",
]

#: TransNetV2's frame rate in the thesis' study (Hz).
DEFAULT_RATE_HZ = 25.0
#: Standard deviation of the window: 2 frames at 25 Hz (seconds).
DEFAULT_SIGMA_S = 2.0 / DEFAULT_RATE_HZ
#: The window is cut off at this many standard deviations (w = 1.5e-8 there).
TRUNCATE = 6.0
#: A cut "hits" an event when its window weight is at least this (|lag| <= 1.18 sigma).
HIT_WEIGHT = 0.5
#: Frames processed per block by :func:`window_sums` (bounds memory, not results).
_BLOCK = 1 << 16


def gaussian_window(lags_s: np.ndarray, sigma_s: float = DEFAULT_SIGMA_S) -> np.ndarray:
    """The window ``w(x) = exp(-x^2 / (2 sigma^2))`` of peak 1, at lags in seconds.

    Parameters
    ----------
    lags_s : np.ndarray
        Time differences in seconds, any shape.
    sigma_s : float
        Standard deviation in seconds, > 0.

    Returns
    -------
    np.ndarray
        Float64 weights in (0, 1], the shape of ``lags_s``.
    """
    sigma_s = check_positive(sigma_s, "sigma_s")
    lags = np.asarray(lags_s, dtype=np.float64)
    return np.exp(-0.5 * (lags / sigma_s) ** 2)


def cut_likelihood(
    cut_times_s: np.ndarray, duration_s: float, rate_hz: float = DEFAULT_RATE_HZ
) -> np.ndarray:
    """A likelihood of unit impulses on the frame grid, one per cut.

    Parameters
    ----------
    cut_times_s : np.ndarray
        ``(n_cuts,)`` cut times in seconds, sorted, within ``[0, duration_s]``.
    duration_s : float
        Length of the video in seconds, > 0.
    rate_hz : float
        Frame rate of the likelihood, > 0.

    Returns
    -------
    np.ndarray
        ``(round(duration_s * rate_hz),)`` float64 (at least one frame): 1 at the
        frame nearest each cut (frame ``n`` is time ``n / rate_hz``; a cut at the very
        end goes to the last frame), 0 elsewhere.

    Raises
    ------
    ValueError
        Bad times, duration or rate, or a cut after ``duration_s``.
    """
    duration_s = check_positive(duration_s, "duration_s")
    rate_hz = check_positive(rate_hz, "rate_hz")
    cuts = check_times(cut_times_s, "cut_times_s")
    if cuts.size and cuts[-1] > duration_s:
        raise ValueError(
            f"cut_times_s has a cut at {cuts[-1]:g} s, after the video's end ({duration_s:g} s)"
        )
    n_frames = max(1, round(duration_s * rate_hz))
    f = np.zeros(n_frames, dtype=np.float64)
    f[np.minimum(np.rint(cuts * rate_hz).astype(np.int64), n_frames - 1)] = 1.0
    return f


def window_sums(
    impulse_times_s: np.ndarray,
    times_s: np.ndarray,
    *,
    sigma_s: float = DEFAULT_SIGMA_S,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """``sum_k a_k w(tau_k - t)`` at every time ``t``: S_i of impulses at any times.

    With impulses at the frame times of a likelihood and its values as weights this
    is :func:`event_scores`; with unit impulses at exact cut times it is the score of
    a cut list without rounding cuts to frames.

    Parameters
    ----------
    impulse_times_s : np.ndarray
        ``(n_impulses,)`` sorted, finite, non-negative impulse times in seconds.
    times_s : np.ndarray
        Times to evaluate at, seconds, any shape, any order; finite (negative
        allowed: an event before the video starts).
    sigma_s : float
        Standard deviation of the window in seconds.
    weights : np.ndarray or None
        ``(n_impulses,)`` finite non-negative impulse heights; ``None`` for ones.

    Returns
    -------
    np.ndarray
        Float64 sums, the shape of ``times_s``. Impulses further than ``6 sigma``
        from ``t`` are left out (their weight is below 1.5e-8).

    Raises
    ------
    ValueError
        Bad impulse times, weights, times or sigma.
    """
    sigma_s = check_positive(sigma_s, "sigma_s")
    impulses = check_times(impulse_times_s, "impulse_times_s")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != impulses.shape:
            raise ValueError(f"weights must have shape {impulses.shape}, got {weights.shape}")
        if weights.size:
            weights = check_likelihood(weights, "weights")
    times = np.asarray(times_s, dtype=np.float64)
    if not np.all(np.isfinite(times)):
        raise ValueError("times_s contains non-finite values")
    return _window_sums(impulses, weights, times.ravel(), sigma_s).reshape(times.shape)


def _window_sums(
    impulses: np.ndarray, weights: np.ndarray | None, times: np.ndarray, sigma_s: float
) -> np.ndarray:
    """:func:`window_sums` on validated 1-D input (the hot path of the offset search)."""
    out = np.zeros(times.size, dtype=np.float64)
    if impulses.size == 0 or times.size == 0:
        return out
    reach = TRUNCATE * sigma_s
    for start in range(0, times.size, _BLOCK):
        t = times[start : start + _BLOCK]
        lo = np.searchsorted(impulses, t - reach, side="left")
        hi = np.searchsorted(impulses, t + reach, side="right")
        width = int((hi - lo).max())
        if width == 0:
            continue
        index = lo[:, None] + np.arange(width)
        inside = index < hi[:, None]
        index = np.minimum(index, impulses.size - 1)
        w = np.exp(-0.5 * ((impulses[index] - t[:, None]) / sigma_s) ** 2)
        if weights is not None:
            w *= weights[index]
        out[start : start + t.size] = np.where(inside, w, 0.0).sum(axis=1)
    return out


def event_scores(
    f_shot: np.ndarray,
    event_times_s: np.ndarray,
    *,
    rate_hz: float = DEFAULT_RATE_HZ,
    sigma_s: float = DEFAULT_SIGMA_S,
) -> np.ndarray:
    """``S_i = sum_n w(n / rate_hz - t_i) f_shot[n]`` for every event.

    Parameters
    ----------
    f_shot : np.ndarray
        ``(n_frames,)`` per-frame cut likelihood, finite and non-negative; frame ``n``
        is time ``n / rate_hz``.
    event_times_s : np.ndarray
        ``(n_events,)`` sorted, finite, non-negative event times in seconds.
    rate_hz : float
        Frame rate of ``f_shot``.
    sigma_s : float
        Standard deviation of the window in seconds.

    Returns
    -------
    np.ndarray
        ``(n_events,)`` float64 scores, whether or not the event lies inside the
        video (an event past the end only sees the frames within ``6 sigma``).

    Raises
    ------
    ValueError
        Bad likelihood, times, rate or sigma.
    """
    f = check_likelihood(f_shot)
    rate_hz = check_positive(rate_hz, "rate_hz")
    sigma_s = check_positive(sigma_s, "sigma_s")
    events = check_times(event_times_s, "event_times_s")
    frames = np.flatnonzero(f)
    return _window_sums(frames / rate_hz, f[frames], events, sigma_s)


def cooccurrence_score(
    f_shot: np.ndarray,
    event_times_s: np.ndarray,
    *,
    rate_hz: float = DEFAULT_RATE_HZ,
    sigma_s: float = DEFAULT_SIGMA_S,
    span_s: tuple[float, float] | None = None,
) -> float:
    """The co-occurrence score S: the mean of ``S_i`` over the events inside the video.

    Parameters
    ----------
    f_shot : np.ndarray
        ``(n_frames,)`` per-frame cut likelihood at ``rate_hz`` (see
        :func:`event_scores`), or :func:`cut_likelihood` of a list of cuts.
    event_times_s : np.ndarray
        ``(n_events,)`` sorted music event times in seconds (downbeats, or segment
        boundaries).
    rate_hz, sigma_s : float
        Frame rate of ``f_shot``; standard deviation of the window in seconds.
    span_s : (float, float) or None
        The video's span; events strictly inside it count. ``None`` for
        ``(0, n_frames / rate_hz)``.

    Returns
    -------
    float
        S, NaN when no event lies inside the span.

    Raises
    ------
    ValueError
        Bad likelihood, times, rate, sigma or span.
    """
    f = check_likelihood(f_shot)
    rate_hz = check_positive(rate_hz, "rate_hz")
    events = check_times(event_times_s, "event_times_s")
    start, end = (0.0, f.size / rate_hz) if span_s is None else _checked_span(span_s)
    inside = events[(events > start) & (events < end)]
    if inside.size == 0:
        return float("nan")
    return float(event_scores(f, inside, rate_hz=rate_hz, sigma_s=sigma_s).mean())


def _checked_span(span_s: object) -> tuple[float, float]:
    try:
        start, end = (float(v) for v in span_s)  # type: ignore[union-attr]
    except (TypeError, ValueError) as err:
        raise ValueError(f"span_s must be a pair (start, end) of seconds, got {span_s!r}") from err
    if not (np.isfinite(start) and np.isfinite(end) and start < end):
        raise ValueError(f"span_s must be finite with start < end, got {span_s!r}")
    return start, end


@dataclass(frozen=True)
class EventMatches:
    """Every music event with its nearest cut.

    Attributes
    ----------
    event_s : np.ndarray
        ``(n_events,)`` event times in seconds.
    cut_s : np.ndarray
        ``(n_events,)`` the nearest cut to each event (the earlier one on a tie:
        editors cut just before the downbeat); NaN when there is no cut.
    lag_s : np.ndarray
        ``cut_s - event_s``: negative when the cut comes early; NaN without cuts.
    weight : np.ndarray
        ``w(lag_s)``, the nearest cut's share of ``S_i``; 0 without cuts.
    hit : np.ndarray
        bool, ``weight >= HIT_WEIGHT`` (the cut lies within 1.18 sigma, 94 ms at
        the default sigma).
    """

    event_s: np.ndarray
    cut_s: np.ndarray
    lag_s: np.ndarray
    weight: np.ndarray
    hit: np.ndarray

    def __len__(self) -> int:
        return int(self.event_s.size)

    def explain(self, i: int, event_name: str = "downbeat") -> str:
        """One sentence on event ``i``, e.g. "cut at 12.48 s hits the downbeat at
        12.50 s (20 ms early)"; times are those of this object (video time for
        :mod:`ml.sync.offset`)."""
        event = float(self.event_s[i])
        if np.isnan(self.cut_s[i]):
            return f"no cut near the {event_name} at {event:.2f} s"
        cut, lag_ms = float(self.cut_s[i]), float(self.lag_s[i]) * 1000.0
        when = (
            "on time"
            if abs(lag_ms) < 0.5
            else f"{abs(lag_ms):.0f} ms {'early' if lag_ms < 0 else 'late'}"
        )
        if self.hit[i]:
            return f"cut at {cut:.2f} s hits the {event_name} at {event:.2f} s ({when})"
        return f"nearest cut at {cut:.2f} s misses the {event_name} at {event:.2f} s ({when})"


def match_events(
    cut_times_s: np.ndarray, event_times_s: np.ndarray, *, sigma_s: float = DEFAULT_SIGMA_S
) -> EventMatches:
    """Pair every event with its nearest cut, with the lag and the window weight.

    Parameters
    ----------
    cut_times_s : np.ndarray
        ``(n_cuts,)`` sorted, finite, non-negative cut times in seconds.
    event_times_s : np.ndarray
        ``(n_events,)`` sorted, finite, non-negative event times in seconds.
    sigma_s : float
        Standard deviation of the window in seconds.

    Raises
    ------
    ValueError
        Bad times or sigma.
    """
    cuts = check_times(cut_times_s, "cut_times_s")
    events = check_times(event_times_s, "event_times_s")
    sigma_s = check_positive(sigma_s, "sigma_s")
    return _match(cuts, events, sigma_s)


def _match(cuts: np.ndarray, events: np.ndarray, sigma_s: float) -> EventMatches:
    """:func:`match_events` on validated input (events need not be sorted here)."""
    if cuts.size == 0:
        nan = np.full(events.size, np.nan)
        return EventMatches(
            events, nan, nan.copy(), np.zeros(events.size), np.zeros(events.size, bool)
        )
    after = np.clip(np.searchsorted(cuts, events, side="left"), 0, cuts.size - 1)
    before = np.clip(after - 1, 0, cuts.size - 1)
    take_before = np.abs(cuts[before] - events) <= np.abs(cuts[after] - events)
    cut = np.where(take_before, cuts[before], cuts[after])
    lag = cut - events
    weight = np.exp(-0.5 * (lag / sigma_s) ** 2)
    return EventMatches(events, cut, lag, weight, weight >= HIT_WEIGHT)
