"""One result of a video query answered a short while ago, recomputed from the query cache.

A query answered by ``POST /recommend/video`` is kept, analysed and embedded, in the
process's query cache (:mod:`app.services.query_cache`), with its video file. What a
result's picture (:mod:`app.services.explain`) and its preview
(:func:`app.services.preview.result_preview`) need is recomputed from that entry and
the track's stored segment embeddings and analysis: the alignment by the cost that
placed the video in the track (:func:`app.services.costs.alignment_method`), the excerpt
and the edit plan as the answer made them (:func:`app.services.recommend.place_in_track`).
Nothing is analysed again: a query no longer cached is a :class:`ResultError` of kind
``"query"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Track, TrackAnalysis, TrackEmbedding
from app.services.costs import alignment_method
from app.services.model_kind import VideoToMusic
from app.services.query_cache import QueryCache
from app.services.recommend import (
    Placement,
    QueryOptions,
    VideoQuery,
    analysed_before,
    place_in_track,
    track_analysis,
)
from ml.ranking import align
from ml.ranking.alignment import Alignment

__all__ = ["CachedResult", "ResultError", "cached_result"]


class ResultError(LookupError):
    """What a result needs is not there: ``kind`` is ``"query"`` (not cached),
    ``"track"`` (no such track) or ``"embedding"`` (not embedded by the model, or its
    analysis does not match the embedding)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class CachedResult:
    """A track under a cached query: the query, the track and its analysis, its segment
    embeddings ``(Kc, d)``, the alignment, and where the video goes in the track."""

    query: VideoQuery
    track: Track
    analysis: TrackAnalysis
    segments: np.ndarray
    alignment: Alignment
    method: str
    placed: Placement


def cached_result(
    db: Session,
    model: VideoToMusic,
    cache: QueryCache[VideoQuery] | None,
    content_sha256: str,
    track_id: int,
    options: QueryOptions,
) -> CachedResult:
    """One track under a cached query (its content SHA-256, and the cut options and model
    it was analysed with), placed as the answer placed it.

    Raises
    ------
    ResultError
        The query is not cached, the track does not exist, has no embedding under the
        model or an analysis that does not match it.
    """
    query = analysed_before(cache, content_sha256, model, options)
    if query is None:
        raise ResultError(
            "query",
            f"query {content_sha256} is not cached under the active model with these cut "
            "options (queries are kept for a while after POST /recommend/video): send the "
            "video again",
        )
    track = db.get(Track, track_id)
    if track is None:
        raise ResultError("track", f"no track with id {track_id}")
    stored = db.scalar(
        select(TrackEmbedding).where(
            TrackEmbedding.track_id == track_id, TrackEmbedding.model_id == model.row_id
        )
    )
    if stored is None:
        raise ResultError("embedding", model.not_embedded(track_id))
    segments = stored.segment_matrix().astype(np.float32)
    found = track_analysis(db, track_id, model.music_segmenter)
    if found is None or len(found.boundaries_s()) != len(segments) + 1:
        raise ResultError(
            "embedding",
            f"track {track_id} has no stored analysis matching its {len(segments)} "
            "segment embeddings under the active model: re-embed it",
        )
    method = alignment_method(options.method)
    alignment = align(query.embeddings.astype(np.float32), segments, method)
    analysis = query.analysis
    placed = place_in_track(track, found, alignment, analysis.boundaries_s, analysis.duration_s)
    return CachedResult(query, track, found, segments, alignment, method, placed)
