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
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "duration_s": round(self.end_s - self.start_s, 3),
                "snapped_to_downbeats": self.snapped_start and self.snapped_end,
                "covers_video": self.covers_video}


def snap_back(time_s: float, downbeats_s: np.ndarray, tolerance_s: float = SNAP_TOLERANCE_S
              ) -> float | None:
    """The last downbeat at or before ``time_s`` (within tolerance), else the first after."""
    before = downbeats_s[downbeats_s <= time_s + 1e-6]
    if before.size and time_s - before[-1] <= tolerance_s:
        return float(before[-1])
    after = downbeats_s[downbeats_s > time_s]
    if after.size and after[0] - time_s <= tolerance_s:
        return float(after[0])
    return None


def snap_forward(time_s: float, downbeats_s: np.ndarray,
                 tolerance_s: float = SNAP_TOLERANCE_S) -> float | None:
    """The first downbeat at or after ``time_s`` (within tolerance)."""
    after = downbeats_s[downbeats_s >= time_s - 1e-6]
    if after.size and after[0] - time_s <= tolerance_s:
        return float(after[0])
    return None


def suggest_excerpt(anchor_s: float, video_duration_s: float, track_duration_s: float,
                    downbeats_s: np.ndarray) -> Excerpt:
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
