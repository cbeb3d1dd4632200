"""The explanation picture of one result of a video query, drawn from the query cache.

A query answered by ``POST /recommend/video`` is kept, analysed and embedded, in the
process's query cache (:mod:`app.services.query_cache`). Its picture for one track is
drawn from that entry and the track's stored segment embeddings and analysis: the
alignment is recomputed by the cost that placed the video in the track
(:func:`app.services.costs.alignment_method`), the excerpt and the edit plan as the
answer made them (:func:`app.services.recommend.place_in_track`). Nothing is analysed
again: a query no longer cached is an :class:`ExplainError` of kind ``"query"``.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Track, TrackEmbedding
from app.services.costs import alignment_method
from app.services.model_kind import VideoToMusic
from app.services.query_cache import QueryCache
from app.services.recommend import (
    QueryOptions,
    VideoQuery,
    analysed_before,
    place_in_track,
    track_analysis,
)
from ml.edit.explain import explain_png
from ml.edit.plan import HIT_TOLERANCE_S
from ml.ranking import align

__all__ = ["ExplainError", "explain_result"]


class ExplainError(LookupError):
    """What the picture needs is not there: ``kind`` is ``"query"`` (not cached),
    ``"track"`` (no such track) or ``"embedding"`` (not embedded by the model, or its
    analysis does not match the embedding)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def explain_result(
    db: Session,
    model: VideoToMusic,
    cache: QueryCache[VideoQuery] | None,
    content_sha256: str,
    track_id: int,
    options: QueryOptions,
) -> bytes:
    """The PNG of :func:`ml.edit.explain.explain_png` for one track under a cached query
    (its content SHA-256, and the cut options and model it was analysed with).

    The bottom panel puts the video's cuts against the downbeats of the edit whose
    hit/miss list the answer gave (the track's own downbeats from the excerpt's start
    when the track has too few downbeats for an edit).

    Raises
    ------
    ExplainError
        The query is not cached, the track does not exist, has no embedding under the
        model or an analysis that does not match it.
    """
    query = analysed_before(cache, content_sha256, model, options)
    if query is None:
        raise ExplainError(
            "query",
            f"query {content_sha256} is not cached under the active model with these cut "
            "options (queries are kept for a while after POST /recommend/video): send the "
            "video again",
        )
    track = db.get(Track, track_id)
    if track is None:
        raise ExplainError("track", f"no track with id {track_id}")
    stored = db.scalar(
        select(TrackEmbedding).where(
            TrackEmbedding.track_id == track_id, TrackEmbedding.model_id == model.row_id
        )
    )
    if stored is None:
        raise ExplainError("embedding", model.not_embedded(track_id))
    segments = stored.segment_matrix().astype(np.float32)
    found = track_analysis(db, track_id, model.music_segmenter)
    if found is None or len(found.boundaries_s()) != len(segments) + 1:
        raise ExplainError(
            "embedding",
            f"track {track_id} has no stored analysis matching its {len(segments)} "
            "segment embeddings under the active model: re-embed it",
        )
    method = alignment_method(options.method)
    alignment = align(query.embeddings.astype(np.float32), segments, method)
    analysis = query.analysis
    placed = place_in_track(track, found, alignment, analysis.boundaries_s, analysis.duration_s)
    if placed.plan is not None:
        downbeats, start = np.asarray(placed.plan.downbeats_s), 0.0
        tolerance = placed.plan.tolerance_s
        shown = "cuts against the edit's downbeats"
    else:
        downbeats, start = placed.downbeats_s, placed.synced.excerpt.start_s
        tolerance = HIT_TOLERANCE_S
        shown = "cuts against the track's downbeats"
    return explain_png(
        _cosines(segments, query.embeddings),
        alignment.pairs,
        placed.track_bounds,
        analysis.boundaries_s,
        analysis.boundaries_s[1:-1],
        downbeats,
        start,
        tolerance_s=tolerance,
        title=f"{track.title} — {method} alignment; {shown}",
    )


def _cosines(track: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``(Kc, Kq)`` cosines of the track's and the query's segment embeddings."""

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    return unit(track) @ unit(query).T
