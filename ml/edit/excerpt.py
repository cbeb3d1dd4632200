"""The suggested edit: which excerpt of a track to lay under a video.

Given where the alignment puts the video's first segment in the track, the
excerpt starts on the nearest downbeat at or before that point (cuts in music are
made on bar lines), lasts at least as long as the video, and ends on a downbeat
when one is available. If the track ends too early, the excerpt moves back; if
the track is shorter than the video, the whole track is proposed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: How far (s) a cut may move to reach a downbeat before we keep the raw time.
SNAP_TOLERANCE_S = 4.0


@dataclass(frozen=True)
class Excerpt:
    start_s: float
    end_s: float
    snapped_start: bool  # the start lies on a downbeat
    snapped_end: bool  # the end lies on a downbeat
    covers_video: bool  # end - start >= the video's duration

    def as_dict(self) -> dict:
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "duration_s": round(self.end_s - self.start_s, 3),
            "snapped_to_downbeats": self.snapped_start and self.snapped_end,
            "covers_video": self.covers_video,
        }


def snap_back(
    time_s: float, downbeats_s: np.ndarray, tolerance_s: float = SNAP_TOLERANCE_S
) -> float | None:
    """The last downbeat at or before ``time_s`` (within tolerance), else the first after."""
    before = downbeats_s[downbeats_s <= time_s + 1e-6]
    if before.size and time_s - before[-1] <= tolerance_s:
        return float(before[-1])
    after = downbeats_s[downbeats_s > time_s]
    if after.size and after[0] - time_s <= tolerance_s:
        return float(after[0])
    return None


def snap_forward(
    time_s: float, downbeats_s: np.ndarray, tolerance_s: float = SNAP_TOLERANCE_S
) -> float | None:
    """The first downbeat at or after ``time_s`` (within tolerance)."""
    after = downbeats_s[downbeats_s >= time_s - 1e-6]
    if after.size and after[0] - time_s <= tolerance_s:
        return float(after[0])
    return None


def suggest_excerpt(
    anchor_s: float, video_duration_s: float, track_duration_s: float, downbeats_s: np.ndarray
) -> Excerpt:
    """An excerpt of the track, starting near ``anchor_s``, as long as the video.

    Parameters
    ----------
    anchor_s : float
        Where in the track the video's first segment should fall (from the alignment).
    video_duration_s, track_duration_s : float
        Lengths in seconds.
    downbeats_s : np.ndarray
        The track's downbeat times, increasing.
    """
    if video_duration_s <= 0 or track_duration_s <= 0:
        raise ValueError("durations must be positive")
    downbeats = np.asarray(downbeats_s, dtype=np.float64)
    downbeats = downbeats[(downbeats >= 0) & (downbeats <= track_duration_s)]
    if track_duration_s <= video_duration_s:
        return Excerpt(0.0, float(track_duration_s), False, False, False)
    anchor = float(np.clip(anchor_s, 0.0, track_duration_s - video_duration_s))
    start = snap_back(anchor, downbeats)
    snapped_start = start is not None and start + video_duration_s <= track_duration_s
    if not snapped_start:
        start = anchor
    end = snap_forward(start + video_duration_s, downbeats)
    snapped_end = end is not None and end <= track_duration_s
    if not snapped_end:
        end = start + video_duration_s
    return Excerpt(float(start), float(end), bool(snapped_start), bool(snapped_end), True)


#: How far (s) from where the content fits the excerpt may move to land the cuts on
#: downbeats: about one music segment's worth of bars.
SYNC_WINDOW_S = 8.0


@dataclass(frozen=True)
class SyncedExcerpt:
    """An excerpt whose start was chosen so that the video's cuts fall on the music.

    ``score`` is the co-occurrence score S of the cuts and the track's downbeats and
    section changes at ``excerpt.start_s`` (docs/method.md §9; 1 = every such event
    inside the video has a cut on it), ``None`` when the video has no cut or no event
    falls inside;
    ``events`` explains it, one sentence per downbeat and section change in video time.
    """

    excerpt: Excerpt
    score: float | None
    events: tuple[str, ...]

    def sync_dict(self) -> dict:
        return {
            "score": None if self.score is None else round(self.score, 4),
            "events": list(self.events),
        }


def synced_excerpt(
    anchor_s: float,
    cut_times_s: np.ndarray,
    video_duration_s: float,
    track_duration_s: float,
    downbeats_s: np.ndarray,
    boundaries_s: np.ndarray,
    window_s: float = SYNC_WINDOW_S,
) -> SyncedExcerpt:
    """:func:`suggest_excerpt`, then the start moved to the downbeat within ``window_s``
    of it where the video's cuts best meet the track's downbeats and section changes
    (S, every event counting once; ties to the nearest); the content match decides the
    region, the synchronisation the bar. With a steady tempo every downbeat start puts
    the same cuts on downbeats, so what moves the start is a section change meeting a
    cut, as editors cut (docs/method.md §9).

    Parameters
    ----------
    anchor_s : float
        Where the alignment puts the video's start in the track (seconds).
    cut_times_s : np.ndarray
        ``(n_cuts,)`` the video's cuts in seconds (neither 0 nor its end).
    downbeats_s, boundaries_s : np.ndarray
        The track's downbeats and music-segment boundaries (seconds).
    """
    from ml.sync.cooccurrence import match_events
    from ml.sync.offset import combine_scores, offset_scores

    base = suggest_excerpt(anchor_s, video_duration_s, track_duration_s, downbeats_s)
    cuts = np.asarray(cut_times_s, dtype=np.float64)
    cuts = cuts[(cuts > 0) & (cuts < video_duration_s)]
    downbeats = np.asarray(downbeats_s, dtype=np.float64)
    if cuts.size == 0 or downbeats.size == 0 or not base.covers_video:
        return SyncedExcerpt(base, None, ())
    near = downbeats[
        (np.abs(downbeats - base.start_s) <= window_s)
        & (downbeats + video_duration_s <= track_duration_s)
    ]
    candidates = np.unique(np.concatenate([[base.start_s], near]))
    on_downbeats, n_downbeats = offset_scores(cuts, video_duration_s, downbeats, candidates)
    boundaries = np.asarray(boundaries_s, dtype=np.float64)
    on_boundaries, n_boundaries = offset_scores(cuts, video_duration_s, boundaries, candidates)
    combined = combine_scores(on_downbeats, n_downbeats, on_boundaries, n_boundaries)
    scores = np.where(np.isnan(combined), -1.0, combined)
    # Best S; among equals the candidate nearest to where the content fits.
    order = np.lexsort((np.abs(candidates - base.start_s), -scores))
    start = float(candidates[order[0]])
    score = float(combined[order[0]]) if scores[order[0]] >= 0 else None
    end = snap_forward(start + video_duration_s, downbeats)
    snapped_end = end is not None and end <= track_duration_s
    excerpt = Excerpt(
        start,
        float(end) if snapped_end else start + video_duration_s,
        bool(np.any(np.isclose(downbeats, start))),
        bool(snapped_end),
        True,
    )

    def explained(events: np.ndarray, name: str) -> list[str]:
        rel = np.asarray(events, dtype=np.float64) - start
        rel = rel[(rel > 0) & (rel < video_duration_s)]
        matches = match_events(cuts, rel)
        return [matches.explain(i, name) for i in range(len(matches))]

    events = explained(boundaries_s, "section change") + explained(downbeats, "downbeat")
    return SyncedExcerpt(excerpt, score, tuple(events))
