"""The cuts-on-beats evidence of a video query, read from the catalog's analyses.

The index fuses a model's learned ranking with how well the query's cuts fall on each
shortlisted track's beats (:mod:`ml.sync.beat_grid`, docs/method.md §9), with the
weight the model fitted on its validation clips (``RegistryEntry.sync_weight``). This
module gives the index that evidence (:class:`app.index.search.Evidence`): the beats,
downbeats and music boundaries of the shortlist, from the ``track_analyses`` rows of
the model's music segmenter, in one query.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.arrays import from_blob
from app.db.models import Track, TrackAnalysis
from ml.sync.beat_grid import beat_grid_scores
from ml.sync.offset import TrackEvents

__all__ = ["BeatGridEvidence"]


class BeatGridEvidence:
    """How well a query's cuts sit on each catalog track's beat grid.

    Parameters
    ----------
    db : Session
        Where the tracks' analyses are.
    segmenter : str
        The model's music segmenter (whose analysis row holds the boundaries).
    cuts_s : sequence of float
        The query's cut times in seconds (its segmentation's inner boundaries).
    video_duration_s : float
        Length of the query video, seconds.
    weight : float
        The model's fitted weight (0: the evidence is not used, nothing is read).
    """

    def __init__(
        self,
        db: Session,
        segmenter: str,
        cuts_s: Sequence[float],
        video_duration_s: float,
        weight: float,
    ) -> None:
        self._db = db
        self._segmenter = segmenter
        self._cuts = np.asarray(cuts_s, dtype=np.float64)
        self._duration = float(video_duration_s)
        self.weight = float(weight)

    def scores(self, track_ids: np.ndarray) -> np.ndarray:
        """``(n,)`` the on-beat score of each track at its best offset, NaN for a track
        with no beats or no analysis."""
        ids = [int(i) for i in np.asarray(track_ids)]
        rows = self._db.execute(
            select(
                TrackAnalysis.track_id,
                TrackAnalysis.beats,
                TrackAnalysis.downbeats,
                TrackAnalysis.boundaries,
                Track.duration_s,
            )
            .join(Track, Track.id == TrackAnalysis.track_id)
            .where(TrackAnalysis.track_id.in_(ids), TrackAnalysis.segmenter == self._segmenter)
        ).all()
        found = {row[0]: row for row in rows}
        events, known = [], []
        for position, track_id in enumerate(ids):
            row = found.get(track_id)
            if row is None:
                continue
            bounds = _times(row.boundaries)
            duration = float(row.duration_s or (bounds[-1] if bounds.size else 0.0))
            if duration <= 0:
                continue
            events.append(
                TrackEvents(
                    _times(row.downbeats),
                    bounds,
                    duration,
                    _times(row.beats),
                )
            )
            known.append(position)
        out = np.full(len(ids), np.nan)
        if events:
            out[known] = beat_grid_scores(self._cuts, self._duration, events).score
        return out


def _times(blob: bytes) -> np.ndarray:
    return from_blob(blob, -1).astype(np.float64)
