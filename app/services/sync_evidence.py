"""The training-free evidence of a video query, read from the catalog's analyses.

The index fuses a model's learned ranking with two kinds of evidence
(:class:`app.index.search.Evidence`, docs/method.md §9):

* :class:`BeatGridEvidence`: how well the query's cuts fall on each shortlisted
  track's beats (:mod:`ml.sync.beat_grid`), at the weight the model fitted on its
  validation clips (``RegistryEntry.sync_weight``); the beats, downbeats and music
  boundaries of the shortlist come from the ``track_analyses`` rows of the model's
  music segmenter, in one query;
* :class:`StructureEvidence`: how well the query's picture repeats where each
  track's music does (:mod:`ml.sync.structure`), laid at the cuts-on-beats best
  offset, at :data:`ml.sync.structure.STRUCTURE_WEIGHT`; the tracks' 1 Hz features
  come from the ``track_features`` rows saved at ingestion, in one query, for the
  :data:`STRUCTURE_SHORTLIST` leaders of the shortlist.

Each kind is centred on the track's prior under the model (its mean over the model's
bank of music videos, :mod:`ml.sync.prior`), computed when the track was embedded
and stored beside its embedding: what is fused is how much better the query fits the
track than videos in general do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.arrays import from_blob
from app.db.models import Track, TrackAnalysis, TrackEmbedding, TrackFeatures
from ml.features.registry import get_extractor
from ml.sync.beat_grid import beat_grid_scores
from ml.sync.offset import TrackEvents
from ml.sync.prior import centre_on_prior
from ml.sync.structure import STRUCTURE_WEIGHT, structure_scores

__all__ = ["STRUCTURE_SHORTLIST", "BeatGridEvidence", "StructureEvidence", "stored_events"]

#: Leaders of a shortlist (in its current order) whose structure agreement is measured:
#: each costs a read of the track's features and two self-similarity matrices.
STRUCTURE_SHORTLIST = 100


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
        model_id: int,
        segmenter: str,
        cuts_s: Sequence[float],
        video_duration_s: float,
        weight: float,
    ) -> None:
        self._db = db
        self._model_id = model_id
        self._segmenter = segmenter
        self._cuts = np.asarray(cuts_s, dtype=np.float64)
        self._duration = float(video_duration_s)
        self.weight = float(weight)
        self._offsets: dict[int, float] = {}

    def scores(self, track_ids: np.ndarray) -> np.ndarray:
        """``(n,)`` the on-beat score of each track at its best offset less the track's
        prior under the model (:mod:`ml.sync.prior`), NaN for a track with no beats or
        no analysis."""
        ids = [int(i) for i in np.asarray(track_ids)]
        return centre_on_prior(self._grid(ids), _priors(self._db, self._model_id, ids, "beat"))

    def offsets(self, track_ids: np.ndarray) -> np.ndarray:
        """``(n,)`` where in each track the query fits best by its cuts on the beats,
        seconds (0 for a track without beats, NaN without an analysis)."""
        ids = [int(i) for i in np.asarray(track_ids)]
        missing = [i for i in ids if i not in self._offsets]
        if missing:
            self._grid(missing)
        return np.array([self._offsets.get(i, np.nan) for i in ids])

    def _grid(self, ids: list[int]) -> np.ndarray:
        rows = self._db.execute(
            select(TrackAnalysis, Track.duration_s)
            .join(Track, Track.id == TrackAnalysis.track_id)
            .where(TrackAnalysis.track_id.in_(ids), TrackAnalysis.segmenter == self._segmenter)
        ).all()
        found = {
            analysis.track_id: stored_events(analysis, duration) for analysis, duration in rows
        }
        events, known = [], []
        for position, track_id in enumerate(ids):
            if (track := found.get(track_id)) is not None:
                events.append(track)
                known.append(position)
        out = np.full(len(ids), np.nan)
        if events:
            grid = beat_grid_scores(self._cuts, self._duration, events)
            out[known] = grid.score
            self._offsets.update(
                (ids[p], float(o)) for p, o in zip(known, grid.offset_s, strict=True)
            )
        return out


class StructureEvidence:
    """How well a query's picture repeats where each catalog track's music does.

    Parameters
    ----------
    db : Session
        Where the tracks' features are.
    audio_extractor : str
        The model's audio extractor (whose 1 Hz features ingestion saved).
    video_frames : np.ndarray
        ``(T, D_v)`` the query's 1 Hz frame features.
    offsets : BeatGridEvidence
        Where the query is laid on each track (its cuts-on-beats best offset).
    weight : float
        :data:`~ml.sync.structure.STRUCTURE_WEIGHT`, or 0 (unused, nothing is read).
    """

    def __init__(
        self,
        db: Session,
        model_id: int,
        audio_extractor: str,
        video_frames: np.ndarray,
        offsets: BeatGridEvidence,
        weight: float = STRUCTURE_WEIGHT,
    ) -> None:
        self._db = db
        self._model_id = model_id
        self._spec = get_extractor(audio_extractor, "audio").spec
        self._video = np.asarray(video_frames, dtype=np.float64)
        self._offsets = offsets
        self.weight = float(weight)

    def scores(self, track_ids: np.ndarray) -> np.ndarray:
        """``(n,)`` the agreement of each of the first :data:`STRUCTURE_SHORTLIST`
        tracks (best first) less the track's prior under the model, NaN for the others
        and for a track without features."""
        ids = [int(i) for i in np.asarray(track_ids)[:STRUCTURE_SHORTLIST]]
        rows = self._db.execute(
            select(TrackFeatures).where(
                TrackFeatures.track_id.in_(ids),
                TrackFeatures.extractor == self._spec.name,
                TrackFeatures.version == self._spec.version,
            )
        ).scalars()
        frames = {row.track_id: row.array() for row in rows}
        out = np.full(len(track_ids), np.nan)
        known = [p for p, i in enumerate(ids) if i in frames]
        if known:
            picked = [ids[p] for p in known]
            agreement = structure_scores(
                self._video, [frames[i] for i in picked], self._offsets.offsets(np.array(picked))
            )
            prior = _priors(self._db, self._model_id, picked, "structure")
            out[known] = centre_on_prior(agreement, prior)
        return out


def stored_events(analysis: TrackAnalysis, duration_s: float | None) -> TrackEvents | None:
    """A track's beats, downbeats and boundaries from its analysis row (its length from
    ``duration_s``, else its last boundary); None for a track of no length."""
    bounds = _times(analysis.boundaries)
    duration = float(duration_s or (bounds[-1] if bounds.size else 0.0))
    if duration <= 0:
        return None
    return TrackEvents(_times(analysis.downbeats), bounds, duration, _times(analysis.beats))


def _priors(db: Session, model_id: int, ids: list[int], kind: str) -> np.ndarray:
    """``(n,)`` the tracks' stored ``kind`` ("beat", "structure") priors under the model,
    NaN where there is none."""
    column = {"beat": TrackEmbedding.beat_prior, "structure": TrackEmbedding.structure_prior}[kind]
    rows = db.execute(
        select(TrackEmbedding.track_id, column).where(
            TrackEmbedding.model_id == model_id, TrackEmbedding.track_id.in_(ids)
        )
    ).all()
    found = {track_id: value for track_id, value in rows if value is not None}
    return np.array([found.get(i, np.nan) for i in ids], dtype=np.float64)


def _times(blob: bytes) -> np.ndarray:
    return from_blob(blob, -1).astype(np.float64)
