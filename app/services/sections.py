"""Similar sections: spans of catalog tracks that match a span of music.

The query is a span of a catalog track (``track_id``, ``start_s``, ``end_s``) or an
uploaded excerpt. Both are described as the active video-to-music model describes a
catalog track: its music segments' embeddings (the music branch), its 1 Hz frame
features and its downbeats. The catalog is ranked by Smith-Waterman over the segment
embeddings (``sw_dtw``, a local match, with the query's filters); each of the best
tracks is then placed on its bars (:mod:`ml.ranking.sections`): the track and the
query cut into windows of four bars from each downbeat, embedded by the same music
branch, and matched locally, so that the span answered starts and ends on the track's
downbeats. A track without stored features or downbeats keeps the segment-level span.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Track, TrackAnalysis, TrackEmbedding
from app.index.catalog import CatalogIndex
from app.index.search import Hit
from app.services.catalog import track_summary
from app.services.ingest import stored_features
from app.services.model_kind import VideoToMusic
from app.services.recommend import QueryError, QueryOptions
from ml.pipeline.analysis import DECODE_SAMPLE_RATE
from ml.pipeline.timing import Timings
from ml.pipeline.track import analyse_track_file
from ml.ranking.sections import bar_windows, local_match, window_vectors

#: The local alignment that ranks the catalog for a section.
SECTION_METHOD = "sw_dtw"
#: The track's fields each result carries (those of ``/similar/track``).
TRACK_FIELDS = ("title", "artist", "license", "tags", "tags_auto", "bpm", "duration_s")


@dataclass(frozen=True)
class Music:
    """A span of music as the model sees it: ``embeddings`` ``(K, d)`` of its music
    segments; ``features`` ``(T, D)`` 1 Hz frame features and ``downbeats_s`` of the
    whole recording (None where not stored); the span ``start_s..end_s`` (s)."""

    embeddings: np.ndarray
    features: np.ndarray | None
    downbeats_s: np.ndarray | None
    start_s: float
    end_s: float
    boundaries_s: np.ndarray  # (K + 1,) the segments', in recording time


def _analysis(db: Session, track_id: int, model: VideoToMusic) -> TrackAnalysis | None:
    return db.scalar(
        select(TrackAnalysis).where(
            TrackAnalysis.track_id == track_id, TrackAnalysis.segmenter == model.music_segmenter
        )
    )


def track_span(
    db: Session, model: VideoToMusic, track_id: int, start_s: float, end_s: float
) -> Music:
    """A span of a catalog track: the stored embeddings of the segments it overlaps.

    Raises
    ------
    QueryError
        The track has no embedding or analysis under ``model``, or the span is empty or
        outside the track.
    """
    row = db.scalar(
        select(TrackEmbedding).where(
            TrackEmbedding.track_id == track_id, TrackEmbedding.model_id == model.row_id
        )
    )
    analysis = _analysis(db, track_id, model)
    if row is None or analysis is None:
        raise QueryError(model.not_embedded(track_id))
    bounds = analysis.boundaries_s().astype(np.float64)
    if not 0 <= start_s < end_s <= bounds[-1] + 1e-3:
        raise QueryError(
            f"the span {start_s:g}..{end_s:g} s is not inside track {track_id} "
            f"(0..{bounds[-1]:.3f} s)"
        )
    inside = np.flatnonzero((bounds[:-1] < end_s) & (bounds[1:] > start_s))
    cut = np.clip(bounds[inside[0] : inside[-1] + 2], start_s, end_s)
    return Music(
        row.segment_matrix()[inside],
        stored_features(db, track_id, model.audio_extractor),
        analysis.downbeats_s().astype(np.float64),
        float(start_s),
        float(end_s),
        cut,
    )


def recording(path: Path, model: VideoToMusic) -> Music:
    """An uploaded excerpt, analysed as a catalog track is (segments, downbeats, 1 Hz
    features)."""
    track = analyse_track_file(path, model.music_segmenter, model.audio_extractor)
    duration = len(track.signal) / DECODE_SAMPLE_RATE
    return Music(
        model.embed_analysed_track(track),
        track.features,
        track.downbeats_s,
        0.0,
        float(duration),
        track.boundaries_s,
    )


def _window_embeddings(
    model: VideoToMusic, features: np.ndarray, downbeats: np.ndarray, start_s: float, end_s: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Unit music-branch embeddings ``(n, d)`` of the bar windows of ``start_s..end_s``
    and the windows ``(n, 2)``; None without a downbeat in the span."""
    inside = downbeats[(downbeats >= start_s) & (downbeats < end_s)]
    if inside.size == 0:
        return None
    windows = bar_windows(inside, end_s)
    vectors = model.embed_music(window_vectors(features, windows)).astype(np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), windows


def place(
    db: Session, model: VideoToMusic, query: Music, hit: Hit, track_bounds: np.ndarray
) -> dict[str, Any]:
    """The span of ``hit``'s track matching ``query``: on its bars when both have
    features and downbeats, else the segments of the index's local alignment."""
    analysis = _analysis(db, hit.track_id, model)
    features = stored_features(db, hit.track_id, model.audio_extractor)
    placed = None
    if query.features is not None and query.downbeats_s is not None and analysis is not None:
        q = _window_embeddings(model, query.features, query.downbeats_s, query.start_s, query.end_s)
        duration = float(track_bounds[-1])
        t = (
            _window_embeddings(model, features, analysis.downbeats_s(), 0.0, duration)
            if features is not None
            else None
        )
        if q is not None and t is not None:
            placed = local_match(t[0], t[1], q[0], q[1])
    if placed is not None:
        return {
            "start_s": placed.track_start_s,
            "end_s": placed.track_end_s,
            "query_start_s": placed.query_start_s,
            "query_end_s": placed.query_end_s,
            "similarity": placed.similarity,
            "on_downbeats": True,
        }
    (t0, t1) = hit.alignment.track_span if hit.alignment and hit.alignment.track_span else (0, 0)
    (q0, q1) = hit.alignment.query_span if hit.alignment and hit.alignment.query_span else (0, 0)
    return {
        "start_s": float(track_bounds[t0]),
        "end_s": float(track_bounds[t1 if t1 > t0 else -1]),
        "query_start_s": float(query.boundaries_s[q0]),
        "query_end_s": float(query.boundaries_s[q1 if q1 > q0 else -1]),
        "similarity": None,
        "on_downbeats": False,
    }


def similar_sections(
    db: Session,
    model: VideoToMusic,
    index: CatalogIndex,
    query: Music,
    options: QueryOptions,
    exclude: int | None = None,
) -> dict[str, Any]:
    """The ``options.k`` tracks whose sections best match ``query`` (``exclude``, the
    query's own track, left out), each with the span that matches, in seconds."""
    timings = Timings()
    extra = 1 if exclude is not None else 0
    with timings.stage("search"):
        hits = index.search(
            query.embeddings,
            k=options.k + extra,
            method=SECTION_METHOD,
            shortlist=options.shortlist + extra,
            filters=options.filters,
        )
        hits = [h for h in hits if h.track_id != exclude][: options.k]
    results = []
    with timings.stage("placement"):
        for hit in hits:
            track = db.get(Track, hit.track_id)
            analysis = _analysis(db, hit.track_id, model)
            if track is None or analysis is None:  # deleted since the index heard: skip
                continue
            span = place(db, model, query, hit, analysis.boundaries_s().astype(np.float64))
            summary = track_summary(track)
            results.append(
                {
                    **{k: summary[k] for k in TRACK_FIELDS},
                    "track_id": track.id,
                    "rank": len(results) + 1,
                    "score": round(hit.score, 6),
                    **{k: _r(v) for k, v in span.items()},
                }
            )
    return {
        "results": results,
        "query": {"track_id": exclude, "start_s": _r(query.start_s), "end_s": _r(query.end_s)},
        "method": SECTION_METHOD,
        "k": options.k,
        "model": model.name,
        "space": "music_branch",
        "timings_s": timings.stages,
    }


def _r(value):
    return round(float(value), 3) if isinstance(value, float | np.floating) else value
