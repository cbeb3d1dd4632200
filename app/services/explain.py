"""The explanation picture of one result of a video query, drawn from the query cache.

The result is recomputed from the cached query (:func:`app.services.cached_results.
cached_result`: nothing is analysed again; a query no longer cached is a
:class:`~app.services.cached_results.ResultError` of kind ``"query"``), then drawn by
:func:`ml.edit.explain.explain_png`.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from app.services.cached_results import ResultError, cached_result
from app.services.model_kind import VideoToMusic
from app.services.query_cache import QueryCache
from app.services.recommend import QueryOptions, VideoQuery
from ml.edit.explain import explain_png
from ml.edit.plan import HIT_TOLERANCE_S

__all__ = ["ResultError", "explain_result"]


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
    ResultError
        The query is not cached, the track does not exist, has no embedding under the
        model or an analysis that does not match it.
    """
    result = cached_result(db, model, cache, content_sha256, track_id, options)
    placed, analysis = result.placed, result.query.analysis
    segments, alignment, track = result.segments, result.alignment, result.track
    method = result.method
    if placed.plan is not None:
        downbeats, start = np.asarray(placed.plan.downbeats_s), 0.0
        tolerance = placed.plan.tolerance_s
        shown = "cuts against the edit's downbeats"
    else:
        downbeats, start = placed.downbeats_s, placed.synced.excerpt.start_s
        tolerance = HIT_TOLERANCE_S
        shown = "cuts against the track's downbeats"
    return explain_png(
        _cosines(segments, result.query.embeddings),
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
