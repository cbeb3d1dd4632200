"""The edit plan: the track's own bars laid under the whole video, cut to its cuts.

A music editor fitting a track to a picture keeps bars whole: the music is a sequence of
*spans* of the track, each starting on a downbeat, joined on downbeats with a short
crossfade, and it ends on the track's own ending or fades over its last bar
(docs/method.md §9: cuts fall on downbeats, section changes on scene changes).
:func:`plan_edit` chooses the spans by dynamic programming over the output's bars: at
every output downbeat the music either goes on to the track's next bar or *joins* to
the start of a section (any section, earlier ones too, so a video longer than the track
repeats sections; the track's start only when it has no section change). A downbeat on a cut earns :attr:`PlanWeights.downbeat_on_cut`, a
section change on a cut :attr:`PlanWeights.section_on_cut`; a join costs
:attr:`PlanWeights.join`, more when it leaves a section before its end, less when a cut
hides it; following the alignment (which track segment under which shot) earns
:attr:`PlanWeights.follow_path` per bar. With a steady tempo the joins cannot move the
bar grid, so the music may start a fraction of a bar before its first downbeat (a
lead-in, one candidate per early cut) when that puts the downbeats on the cuts.

The plan lists every cut with the output downbeat nearest to it, signed miss in
seconds, and whether it is hit (within ``tolerance_s``).

All times are seconds; video times count from the video's start, track times from the
track's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A cut is hit when an output downbeat lies within this of it (the co-occurrence
#: window of docs/method.md §9 has a standard deviation of 80 ms).
HIT_TOLERANCE_S = 0.1
#: Length of the crossfade at a join, at most half a beat.
CROSSFADE_S = 0.08
#: The track's own ending is kept when at most this much of its tail is cut.
MAX_TAIL_CUT_S = 1.0
#: A join may leave a section before its end once its span has played this many bars.
MIN_SPAN_BARS = 4
#: Cuts within this many bars of the start propose a lead-in.
LEAD_IN_CUTS_BARS = 4.0


@dataclass(frozen=True)
class TrackStructure:
    """What ingestion found in a track: ``downbeats_s`` ``(n_downbeats,)``, ``beats_s``
    ``(n_beats,)`` and section ``boundaries_s`` (interior ones count; 0 and the end are
    ignored), increasing, in seconds; ``duration_s`` the track's length."""

    duration_s: float
    downbeats_s: np.ndarray
    beats_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    boundaries_s: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class PathPair:
    """One step of the alignment's path: the track span it puts under a video span."""

    video_start_s: float
    video_end_s: float
    track_start_s: float
    track_end_s: float


@dataclass(frozen=True)
class PlanWeights:
    """The plan's rewards and costs, in units of one downbeat on a cut."""

    downbeat_on_cut: float = 1.0
    section_on_cut: float = 2.0
    join: float = 1.5
    join_mid_section: float = 1.5  # added when the join leaves a section before its end
    join_on_cut: float = 0.75  # taken off when a cut hides the join
    follow_path: float = 0.25
    anchor_per_bar: float = 0.25  # cost per bar between the first bar and the anchor
    lead_in: float = 0.5
    track_ending: float = 1.0


@dataclass(frozen=True)
class Span:
    """``track_start_s..track_end_s`` of the track plays at ``video_start_s..video_end_s``
    of the video (equal lengths); it starts on a downbeat except for a lead-in."""

    video_start_s: float
    video_end_s: float
    track_start_s: float
    track_end_s: float

    def as_dict(self) -> dict[str, float]:
        return {
            "video_start_s": _r(self.video_start_s),
            "video_end_s": _r(self.video_end_s),
            "track_start_s": _r(self.track_start_s),
            "track_end_s": _r(self.track_end_s),
        }


@dataclass(frozen=True)
class CutHit:
    """A cut of the video and the output downbeat nearest to it.

    ``miss_s`` is that downbeat's time minus the cut's (negative: the downbeat comes
    first); ``hit`` when ``abs(miss_s)`` is within the plan's tolerance; ``section`` when
    that downbeat starts a section of the track; ``join`` when the music is joined there.
    """

    cut_s: float
    miss_s: float
    hit: bool
    section: bool
    join: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "cut_s": _r(self.cut_s),
            "miss_s": _r(self.miss_s),
            "hit": self.hit,
            "section": self.section,
            "join": self.join,
        }


@dataclass(frozen=True)
class EditPlan:
    """An edit decision list for one video and one track.

    ``spans`` cover ``0..video_duration_s`` end to end; ``joins_s`` are the video times
    where one span gives way to the next (a crossfade of ``crossfade_s`` centred on each);
    ``downbeats_s`` the output's downbeats in video time and ``sections_s`` those that
    start a section of the track. ``ending`` is ``"track"`` (the track's own ending,
    at most :data:`MAX_TAIL_CUT_S` of its tail cut) or ``"fade"``; the music fades out
    from ``fade_start_s`` to the video's end.
    """

    video_duration_s: float
    track_duration_s: float
    spans: tuple[Span, ...]
    joins_s: tuple[float, ...]
    downbeats_s: tuple[float, ...]
    sections_s: tuple[float, ...]
    cuts: tuple[CutHit, ...]
    ending: str
    fade_start_s: float
    crossfade_s: float
    lead_in_s: float
    tolerance_s: float

    @property
    def n_hit(self) -> int:
        return sum(c.hit for c in self.cuts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "video_duration_s": _r(self.video_duration_s),
            "spans": [s.as_dict() for s in self.spans],
            "joins_s": [_r(t) for t in self.joins_s],
            "crossfade_s": _r(self.crossfade_s),
            "lead_in_s": _r(self.lead_in_s),
            "ending": self.ending,
            "fade_start_s": _r(self.fade_start_s),
            "tolerance_s": _r(self.tolerance_s),
            "cuts_hit": self.n_hit,
            "cuts": [c.as_dict() for c in self.cuts],
        }


@dataclass(frozen=True)
class _Bars:
    """The track cut into bars: ``start`` ``(B,)`` downbeats, ``dur`` ``(B,)`` the time to
    the next downbeat (the last bar: to the track's end, at most one typical bar),
    ``section`` ``(B,)`` whether a section starts there, ``typical`` the median bar."""

    start: np.ndarray
    dur: np.ndarray
    section: np.ndarray
    typical: float
    track_end: float


def plan_edit(
    video_duration_s: float,
    cut_times_s: Sequence[float] | np.ndarray,
    track: TrackStructure,
    *,
    path: Sequence[PathPair] = (),
    anchor_s: float | None = None,
    tolerance_s: float = HIT_TOLERANCE_S,
    crossfade_s: float = CROSSFADE_S,
    weights: PlanWeights = PlanWeights(),
) -> EditPlan:
    """Lay the track's bars under the whole video, section changes and downbeats on its
    cuts where possible (see the module's docstring).

    Parameters
    ----------
    video_duration_s : float
        The video's length (s).
    cut_times_s : array-like
        ``(n_cuts,)`` the video's cuts (s); those at or outside ``0..video_duration_s``
        are ignored.
    track : TrackStructure
        The track's downbeats (at least two inside the track), beats and sections.
    path : sequence of PathPair
        The alignment's path, when there is one: which track span under which video span.
    anchor_s : float, optional
        Where in the track the video should start (the suggested excerpt's start); by
        default the path's first pair, else anywhere.
    tolerance_s : float
        A cut is hit by a downbeat within this (s).
    crossfade_s : float
        The crossfade at joins (s), at most half the track's median beat.

    Raises
    ------
    ValueError
        A duration or tolerance that is not positive, times that are not finite, a track
        with fewer than two downbeats.
    """
    video_d = _positive(video_duration_s, "video_duration_s")
    _positive(tolerance_s, "tolerance_s")
    if not crossfade_s >= 0:
        raise ValueError(f"crossfade_s must be >= 0, got {crossfade_s!r}")
    bars = _track_bars(track)
    cuts = _finite(cut_times_s, "cut_times_s")
    cuts = np.unique(cuts[(cuts > 0) & (cuts < video_d)])
    beats = _finite(track.beats_s, "beats_s")
    if beats.size >= 2:
        crossfade_s = min(crossfade_s, 0.5 * float(np.median(np.diff(beats))))
    if anchor_s is None and path:
        anchor_s = max(0.0, path[0].track_start_s - path[0].video_start_s)
    best: tuple[float, float, list[tuple[int, float]]] | None = None
    for lead_in in _lead_ins(cuts, bars.typical, tolerance_s):
        found = _search(bars, video_d, cuts, lead_in, anchor_s, path, weights, tolerance_s)
        if found is not None and (best is None or found[0] > best[0] + 1e-9):
            best = (found[0], lead_in, found[1])
    if best is None:
        raise ValueError("no edit fits: the track's bars cannot cover the video")
    return _describe(bars, video_d, cuts, best[1], best[2], crossfade_s, tolerance_s)


def _track_bars(track: TrackStructure) -> _Bars:
    """The track's bars from its downbeats (see :class:`_Bars`)."""
    end = _positive(track.duration_s, "track duration_s")
    downbeats = np.unique(_finite(track.downbeats_s, "downbeats_s"))
    downbeats = downbeats[(downbeats >= 0) & (downbeats < end)]
    if downbeats.size < 2:
        raise ValueError("a track needs at least two downbeats to be edited on its bars")
    typical = float(np.median(np.diff(downbeats)))
    if end - downbeats[-1] < 0.5 * typical:  # a scrap of a bar: the previous bar rings out
        downbeats = downbeats[:-1] if downbeats.size > 2 else downbeats
    dur = np.diff(np.append(downbeats, end))
    dur[-1] = min(dur[-1], typical)
    section = np.zeros(downbeats.size, dtype=bool)
    section[0] = True
    for b in _finite(track.boundaries_s, "boundaries_s"):
        k = int(np.argmin(np.abs(downbeats - b)))
        if 0 < b < end and abs(downbeats[k] - b) <= 0.5 * dur[k]:
            section[k] = True
    return _Bars(downbeats, dur, section, typical, end)


def _lead_ins(cuts: np.ndarray, bar_s: float, tolerance_s: float) -> list[float]:
    """0, and the lead-ins that put a downbeat on one of the first cuts."""
    options = [0.0]
    for cut in cuts[cuts < LEAD_IN_CUTS_BARS * bar_s]:
        phase = float(cut % bar_s)
        if tolerance_s < phase < bar_s - tolerance_s and all(
            abs(phase - o) > tolerance_s for o in options
        ):
            options.append(phase)
    return options


def _search(
    bars: _Bars,
    video_d: float,
    cuts: np.ndarray,
    lead_in: float,
    anchor_s: float | None,
    path: Sequence[PathPair],
    w: PlanWeights,
    tol: float,
) -> tuple[float, list[tuple[int, float]]] | None:
    """The best sequence of ``(bar, video time)`` from the first output downbeat (at
    ``lead_in``) to the bar that covers the video's end, and its score; a Viterbi pass
    over output bars whose states are track bars, each carrying the time and the span
    length of its best path."""
    n_bars = bars.start.size
    index = np.arange(n_bars)
    # Joins go to a section's start; to the track's start only when it has no other.
    targets = index[bars.section & (index > 0)] if bars.section[1:].any() else index[:1]
    section_end = np.append(bars.section[1:], True)  # bar p is the last of its section

    def on_cut(t: np.ndarray) -> np.ndarray:
        if cuts.size == 0:
            return np.zeros(t.shape, dtype=bool)
        pos = np.searchsorted(cuts, t)  # 0..size: np.clip is slow on small arrays
        before = cuts[np.maximum(pos - 1, 0)]
        after = cuts[np.minimum(pos, cuts.size - 1)]
        near = np.minimum(np.abs(before - t), np.abs(after - t))
        return near <= tol

    def on_path(q: np.ndarray, t: np.ndarray) -> np.ndarray:
        inside = np.zeros(t.shape, dtype=bool)
        for pair in path:
            now = (t >= pair.video_start_s) & (t < pair.video_end_s)
            there = (bars.start[q] >= pair.track_start_s - 1e-6) & (
                bars.start[q] < pair.track_end_s - 1e-6
            )
            inside |= now & there
        return inside

    def gain(q: np.ndarray, t: np.ndarray, hit: np.ndarray | None = None) -> np.ndarray:
        hit = on_cut(t) if hit is None else hit
        return (
            w.downbeat_on_cut * hit
            + w.section_on_cut * (hit & bars.section[q])
            + w.follow_path * on_path(q, t)
        )

    start_ok = bars.start - lead_in >= -1e-9
    score = np.where(start_ok, gain(index, np.full(n_bars, lead_in)), -np.inf)
    if lead_in > 0:
        score = score - w.lead_in
    if anchor_s is not None:
        score = score - w.anchor_per_bar * np.abs(bars.start - lead_in - anchor_s) / bars.typical
    time = np.full(n_bars, lead_in)
    run = np.ones(n_bars, dtype=int)
    backs: list[np.ndarray] = []
    times: list[np.ndarray] = [time]
    finals: list[tuple[float, int, int]] = []  # (score, slot, bar)
    max_slots = int(np.ceil(video_d / float(bars.dur.min()))) + 2
    for slot in range(max_slots):
        alive = np.isfinite(score)
        ends = time + bars.dur
        ends_on_cut = on_cut(ends)  # once per slot, for every move below
        covers = alive & (ends >= video_d - 1e-9)
        last = n_bars - 1
        tail_fits = alive[last] and time[last] + (bars.track_end - bars.start[last]) >= video_d
        for q in index[covers]:
            finals.append((float(score[q]), slot, int(q)))
        if tail_fits:  # the track's own ending covers the rest of the video
            cut_tail = bars.track_end - bars.start[last] - (video_d - time[last])
            bonus = w.track_ending if cut_tail <= MAX_TAIL_CUT_S else 0.0
            if not covers[last] or bonus:
                finals.append((float(score[last]) + bonus, slot, last))
        active = alive & ~covers
        if not active.any():
            break
        new_score = np.full(n_bars, -np.inf)
        new_time = np.zeros(n_bars)
        new_run = np.zeros(n_bars, dtype=int)
        back = np.full(n_bars, -1)
        p = index[:-1][active[:-1]]  # go on to the next bar
        if p.size:
            q = p + 1
            new_score[q] = score[p] + gain(q, ends[p], ends_on_cut[p])
            new_time[q], new_run[q], back[q] = ends[p], run[p] + 1, p
        may_leave = active & (section_end | (run >= MIN_SPAN_BARS))
        for q in targets:
            p = index[may_leave & (index + 1 != q)]
            if p.size == 0:
                continue
            t, hit = ends[p], ends_on_cut[p]
            cost = w.join + w.join_mid_section * ~section_end[p] - w.join_on_cut * hit
            cand = score[p] + gain(np.full(p.size, q), t, hit) - cost
            best = int(np.argmax(cand))
            if cand[best] > new_score[q] + 1e-9:
                new_score[q], new_time[q], new_run[q], back[q] = cand[best], t[best], 1, p[best]
        score, time, run = new_score, new_time, new_run
        backs.append(back)
        times.append(time)
    if not finals:
        return None
    total, slot, q = max(finals, key=lambda f: (f[0], -f[1]))
    sequence = [(q, float(times[slot][q]))]
    for s in range(slot, 0, -1):
        q = int(backs[s - 1][q])
        sequence.append((q, float(times[s - 1][q])))
    return total, sequence[::-1]


def _describe(
    bars: _Bars,
    video_d: float,
    cuts: np.ndarray,
    lead_in: float,
    sequence: list[tuple[int, float]],
    crossfade_s: float,
    tol: float,
) -> EditPlan:
    """The plan from the chosen ``(bar, video time)`` sequence."""
    spans: list[Span] = []
    joins: list[float] = []
    first_bar, _ = sequence[0]
    span_video, span_track = 0.0, float(bars.start[first_bar]) - lead_in
    for (prev, _), (bar, t) in zip(sequence[:-1], sequence[1:]):
        if bar != prev + 1:
            spans.append(Span(span_video, t, span_track, span_track + t - span_video))
            joins.append(t)
            span_video, span_track = t, float(bars.start[bar])
    spans.append(Span(span_video, video_d, span_track, span_track + video_d - span_video))
    downbeats = np.array([t for _, t in sequence])
    sections = np.array([t for bar, t in sequence if bars.section[bar]])
    last_bar, last_t = sequence[-1]
    cut_tail = bars.track_end - spans[-1].track_end_s
    if last_bar == bars.start.size - 1 and -1e-9 <= cut_tail <= MAX_TAIL_CUT_S:
        ending = "track"
        fade_start = video_d - min(crossfade_s, video_d) if cut_tail > 1e-3 else video_d
    else:
        ending = "fade"
        before = downbeats[video_d - downbeats >= 0.5 * bars.typical]
        fade_start = float(before[-1]) if before.size else 0.0
    hits = []
    for cut in cuts:
        k = int(np.argmin(np.abs(downbeats - cut)))
        miss = float(downbeats[k] - cut)
        hits.append(
            CutHit(
                float(cut),
                miss,
                abs(miss) <= tol,
                bool(np.any(np.abs(sections - downbeats[k]) < 1e-9)),
                bool(np.any(np.abs(np.asarray(joins) - downbeats[k]) < 1e-9)),
            )
        )
    return EditPlan(
        video_duration_s=video_d,
        track_duration_s=bars.track_end,
        spans=tuple(spans),
        joins_s=tuple(joins),
        downbeats_s=tuple(float(t) for t in downbeats),
        sections_s=tuple(float(t) for t in sections),
        cuts=tuple(hits),
        ending=ending,
        fade_start_s=float(fade_start),
        crossfade_s=float(crossfade_s),
        lead_in_s=float(lead_in),
        tolerance_s=float(tol),
    )


def _positive(value: float, name: str) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _finite(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers of seconds")
    return array


def _r(value: float) -> float:
    return round(float(value), 3)
