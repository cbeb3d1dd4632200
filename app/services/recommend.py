"""Recommend catalog tracks for a video, and tracks similar to a track.

One pipeline for both the synchronous route and the asynchronous job:
video -> segments (shots, or the user's own cut points) -> 1 Hz features ->
segment vectors -> video branch -> two-stage search -> alignment in seconds and
a suggested excerpt of each track, snapped to its downbeats.

Similar tracks are ranked in one of two spaces: the similarity model's (MuSimNet,
one embedding per track) when one is active, else the music branch's segment
sequences.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Track, TrackAnalysis, TrackEmbedding
from app.index.catalog import CatalogIndex
from app.index.metadata import SearchFilters
from app.index.search import Hit
from app.services.catalog import track_summary
from app.services.costs import DEFAULT_METHOD, alignment_method
from app.services.model_kind import ServingKind, VideoToMusic
from app.services.query_cache import QueryCache
from app.services.sync_evidence import BeatGridEvidence, StructureEvidence
from app.settings import Settings
from ml.edit import SyncedExcerpt, synced_excerpt
from ml.edit.plan import EditPlan, TrackStructure, plan_edit
from ml.pipeline.timing import Timings
from ml.pipeline.video import VideoAnalysis, analyse_video
from ml.ranking.alignment import Alignment
from ml.sync.structure import STRUCTURE_WEIGHT


class QueryError(ValueError):
    """A recommendation request that cannot be answered as asked (a 4xx, not a bug)."""


@dataclass(frozen=True)
class QueryOptions:
    k: int = 10
    method: str = DEFAULT_METHOD
    shortlist: int = 1000
    filters: SearchFilters | None = None
    boundaries_s: tuple[float, ...] | None = None  # the user's own cut points
    min_segment_s: float | None = None  # merge shots shorter than this
    hubness: str = "csls"  # "csls" (when the model has a query bank) or "none"
    sync: bool = True  # fuse the training-free evidence (cuts on beats, structure)
    prefer: tuple[str, ...] = ()  # automatic tags that steer the shortlist


@dataclass(frozen=True)
class VideoQuery:
    analysis: VideoAnalysis
    embeddings: np.ndarray  # (K, d), one per segment of ``analysis``


def embed_video(
    path: Path, model: VideoToMusic, options: QueryOptions, settings: Settings, timings: Timings
) -> VideoQuery:
    """The query video through the one video pipeline, then the model's video branch."""
    analysis = analyse_video(
        path,
        model.video_extractor,
        cut_points_s=options.boundaries_s,
        min_segment_s=options.min_segment_s,
        min_duration_s=settings.min_media_seconds,
        max_duration_s=settings.max_media_seconds,
        timings=timings,
    )
    with timings.stage("embedding"):
        embeddings = model.embed_video(analysis.segment_vectors)
    return VideoQuery(analysis, embeddings)


def analysed_before(
    cache: QueryCache[VideoQuery] | None,
    content_sha256: str | None,
    model: VideoToMusic,
    options: QueryOptions,
) -> VideoQuery | None:
    """The stored analysis of this video under ``model`` and these cut options, if any
    (a route asks before it probes or waits for an analysis slot)."""
    if cache is None or not content_sha256:
        return None
    return cache.get(_cache_key(content_sha256, model, options))


def _cache_key(content_sha256: str, model: VideoToMusic, options: QueryOptions):
    return QueryCache.key(content_sha256, model.row_id, options.boundaries_s, options.min_segment_s)


def query_evidence(
    db: Session, model: VideoToMusic, analysis: VideoAnalysis, sync: bool
) -> tuple[BeatGridEvidence, StructureEvidence]:
    """The training-free evidence fused into a video query's ranking (none with
    ``sync`` off): its cuts on each track's beats at the model's fitted weight, and its
    picture's repetitions against each track's music, laid where the cuts fit best."""
    beats = BeatGridEvidence(
        db,
        model.row_id,
        model.music_segmenter,
        analysis.boundaries_s[1:-1],
        analysis.duration_s,
        model.sync_weight if sync else 0.0,
    )
    structure = StructureEvidence(
        db,
        model.row_id,
        model.audio_extractor,
        analysis.features,
        beats,
        STRUCTURE_WEIGHT if sync else 0.0,
    )
    return beats, structure


def recommend_for_video(
    path: Path,
    db: Session,
    model: VideoToMusic,
    index: CatalogIndex,
    options: QueryOptions,
    settings: Settings,
    *,
    cache: QueryCache[VideoQuery] | None = None,
    content_sha256: str | None = None,
) -> dict[str, Any]:
    """Rank the catalog for a video file. With a ``cache`` and the file's SHA-256, a
    video analysed before under the same model and cut options is not analysed again."""
    timings = Timings()
    started = time.perf_counter()
    key = (
        _cache_key(content_sha256, model, options) if cache is not None and content_sha256 else None
    )
    query = cache.get(key) if key is not None else None
    reused = query is not None
    if query is None:
        query = embed_video(path, model, options, settings, timings)
        if key is not None:
            cache.put(key, query, video=path)
    elif cache.videos is not None and cache.video(content_sha256) is None:
        cache.put(key, query, video=path)  # its video was removed meanwhile: keep it again
    with timings.stage("search"):
        hits = index.search(
            query.embeddings,
            k=options.k,
            method=options.method,
            alignment_method=alignment_method(options.method),
            shortlist=options.shortlist,
            filters=options.filters,
            bank=model.bank,
            csls=options.hubness == "csls",
            evidence=query_evidence(db, model, query.analysis, options.sync),
            prefer=options.prefer,
        )
    explain = preview = None
    if key is not None and cache.max_entries > 0:  # the picture is drawn from the cache

        def explain(track_id: int) -> str:
            return result_url("/recommend/explain.png", content_sha256, track_id, options)

        if cache.video(content_sha256) is not None:  # the preview, from the kept video

            def preview(track_id: int) -> str:
                return result_url("/recommend/preview.mp4", content_sha256, track_id, options)

    with timings.stage("results"):
        results = describe_hits(
            db,
            hits,
            model.music_segmenter,
            query.analysis.boundaries_s,
            query.analysis.duration_s,
            explain,
            preview,
        )
    timings.stages["total"] = round(time.perf_counter() - started, 4)
    return {
        "results": results,
        "query": {
            "duration_s": round(query.analysis.duration_s, 3),
            "segmentation": query.analysis.segmentation,
            "reused": reused,
            "content_sha256": content_sha256,
            "segments": _segments(query.analysis.boundaries_s),
        },
        "method": options.method,
        "k": options.k,
        "shortlist": options.shortlist,
        "hubness": options.hubness if model.bank is not None else "none",
        "sync_weight": model.sync_weight if options.sync else 0.0,
        "structure_weight": STRUCTURE_WEIGHT if options.sync else 0.0,
        "model": model.name,
        "catalog_size": int(len(index.track_ids())),
        "timings_s": timings.stages,
    }


def embed_reference_track(path: Path, model: ServingKind) -> np.ndarray:
    """A recording's embeddings in ``model``'s space: ``(1, d)`` under a MuSimNet, its
    ``(K, d)`` music-branch segment embeddings under a video-to-music model."""
    return model.embed_recording(path)


def similar_to_track(
    db: Session, model: ServingKind, index: CatalogIndex, track_id: int, options: QueryOptions
) -> dict[str, Any]:
    embedding = db.scalar(
        select(TrackEmbedding).where(
            TrackEmbedding.track_id == track_id, TrackEmbedding.model_id == model.row_id
        )
    )
    if embedding is None:
        raise QueryError(model.not_embedded(track_id))
    return similar_to_embeddings(
        db, model, index, embedding.segment_matrix(), options, exclude=track_id
    )


def similar_to_embeddings(
    db: Session,
    model: ServingKind,
    index: CatalogIndex,
    embeddings: np.ndarray,
    options: QueryOptions,
    exclude: int | None = None,
) -> dict[str, Any]:
    """Tracks like one given by its embeddings in ``model``'s space (itself excluded).

    Music-branch segment embeddings are ranked with ``options.method``; a MuSimNet
    embedding by the centroid cost on an exact index (``model.similar_method`` says
    which cost, ``model.space`` which space, and the answer says both).
    """
    method = model.similar_method(options.method)
    timings = Timings()
    with timings.stage("search"):
        extra = 1 if exclude is not None else 0
        # No alignment: a similar track is answered without one.
        hits = index.search(
            embeddings,
            k=options.k + extra,
            method=method,
            shortlist=options.shortlist + extra,
            filters=options.filters,
            with_alignment=False,
            prefer=options.prefer,
        )
        hits = [h for h in hits if h.track_id != exclude][: options.k]
    with timings.stage("results"):
        found = [(h, db.get(Track, h.track_id)) for h in hits]
        # A track deleted since the index last heard is skipped, never an error.
        found = [(h, track) for h, track in found if track is not None]
        results = [
            {
                **_track_fields(track),
                "track_id": h.track_id,
                "rank": rank,
                "score": round(h.score, 6),
            }
            for rank, (h, track) in enumerate(found, start=1)
        ]
    return {
        "results": results,
        "method": method,
        "k": options.k,
        "model": model.name,
        "space": model.space,
        "query_track_id": exclude,
        "timings_s": timings.stages,
    }


def describe_hits(
    db: Session,
    hits: Sequence[Hit],
    segmenter: str,
    query_boundaries: np.ndarray,
    video_duration_s: float,
    explain: Callable[[int], str] | None = None,
    preview: Callable[[int], str] | None = None,
) -> list[dict[str, Any]]:
    """Ranked results with metadata, the alignment in seconds, the excerpt, and the edit
    plan's hit/miss list of the video's cuts; ``explain(track_id)`` gives each result's
    ``explain_url`` (None when the picture cannot be served), ``preview(track_id)`` its
    ``preview_url`` (None when the video is not kept, or the track has no edit)."""
    results = []
    for hit in hits:
        track = db.get(Track, hit.track_id)
        if track is None:  # deleted since the index last heard: skip, never fail
            continue
        analysis = track_analysis(db, track.id, segmenter)
        placed = place_in_track(track, analysis, hit.alignment, query_boundaries, video_duration_s)
        results.append(
            {
                **_track_fields(track),
                "track_id": track.id,
                "rank": len(results) + 1,
                "score": round(hit.score, 6),
                "distance": round(hit.distance, 6),
                "match": hit.match,
                "alignment": placed.alignment,
                "excerpt": placed.synced.excerpt.as_dict(),
                "sync": placed.synced.sync_dict(),
                "edit": edit_summary(placed.plan),
                "explain_url": explain(track.id) if explain is not None else None,
                "preview_url": (
                    preview(track.id) if preview is not None and placed.plan is not None else None
                ),
            }
        )
    return results


@dataclass(frozen=True)
class Placement:
    """Where a video goes in one track: the alignment in seconds, the excerpt moved to
    the bar where the cuts best meet the music, and the edit plan from the excerpt's
    start (None when the track's analysis has too few downbeats to cut on); with the
    track's segment boundaries and downbeats (s) they were made from."""

    alignment: dict[str, Any]
    synced: SyncedExcerpt
    plan: EditPlan | None
    track_bounds: np.ndarray
    downbeats_s: np.ndarray


def track_analysis(db: Session, track_id: int, segmenter: str) -> TrackAnalysis | None:
    """A track's analysis by the model's music ``segmenter``, if it has one."""
    return db.scalar(
        select(TrackAnalysis).where(
            TrackAnalysis.track_id == track_id, TrackAnalysis.segmenter == segmenter
        )
    )


def place_in_track(
    track: Track,
    analysis: TrackAnalysis | None,
    alignment: Alignment | None,
    query_boundaries: np.ndarray,
    video_duration_s: float,
) -> Placement:
    """The :class:`Placement` of a video (its segment ``query_boundaries``, s) in a track
    aligned with it, from the track's ``analysis`` (:func:`track_analysis`).

    The plan is the one ``POST /edit/plan`` makes for the video's cuts with the
    excerpt's start as ``start_s``, so that a preview renders what the hit/miss list
    claims: a dynamic programme over bars, milliseconds for the few results shown."""
    track_bounds = (
        analysis.boundaries_s().astype(np.float64)
        if analysis
        else np.array([0.0, track.duration_s or 0.0])
    )
    downbeats = analysis.downbeats_s().astype(np.float64) if analysis else np.zeros(0)
    track_duration = float(track.duration_s or track_bounds[-1])
    body, anchor = align_in_seconds(alignment, track_bounds, query_boundaries)
    cuts = query_boundaries[1:-1]
    synced = synced_excerpt(
        anchor, cuts, video_duration_s, track_duration, downbeats, track_bounds[1:-1]
    )
    plan = plan_in_track(track, analysis, video_duration_s, cuts, synced.excerpt.start_s)
    return Placement(body, synced, plan, track_bounds, downbeats)


def plan_in_track(
    track: Track,
    analysis: TrackAnalysis | None,
    video_duration_s: float,
    cuts_s: np.ndarray | Sequence[float],
    start_s: float,
) -> EditPlan | None:
    """The edit plan of a track (its ``analysis``, :func:`track_analysis`) under a video
    of ``video_duration_s`` with cuts ``cuts_s`` ``(n_cuts,)`` (s), from ``start_s`` in
    the track (s); None when the track has fewer than two downbeats to cut on."""
    if analysis is None:
        return None
    bounds = analysis.boundaries_s().astype(np.float64)
    structure = TrackStructure(
        float(track.duration_s or bounds[-1]),
        analysis.downbeats_s().astype(np.float64),
        analysis.beats_s().astype(np.float64),
        bounds[1:-1],
    )
    try:
        return plan_edit(video_duration_s, np.asarray(cuts_s, float), structure, anchor_s=start_s)
    except ValueError:  # fewer than two downbeats: nothing to cut on
        return None


def edit_summary(plan: EditPlan | None) -> dict[str, Any] | None:
    """The plan's hit/miss list, compact: the cuts hit, and per cut its time (s), whether
    it is hit and the signed miss of the nearest downbeat of the edit (ms, negative: the
    downbeat comes first)."""
    if plan is None:
        return None
    return {
        "cuts_hit": plan.n_hit,
        "tolerance_ms": round(plan.tolerance_s * 1000),
        "cuts": [
            {"cut_s": _r(c.cut_s), "hit": c.hit, "miss_ms": round(c.miss_s * 1000)}
            for c in plan.cuts
        ],
    }


def result_url(route: str, content_sha256: str, track_id: int, options: QueryOptions) -> str:
    """Where ``route`` (``GET /recommend/explain.png``, ``GET /recommend/preview.mp4``)
    serves one result of a cached query: the query's content SHA-256, the track, the
    ranking cost and the cut options of the cache key (written so that they read back as
    the same numbers)."""
    params: dict[str, Any] = {"query": content_sha256, "track_id": track_id}
    params["method"] = options.method
    if options.boundaries_s:
        params["boundaries"] = ",".join(repr(float(v)) for v in options.boundaries_s)
    if options.min_segment_s is not None:
        params["min_segment_s"] = repr(float(options.min_segment_s))
    return f"{route}?{urlencode(params)}"


def align_in_seconds(
    alignment: Alignment | None, track_bounds: np.ndarray, query_bounds: np.ndarray
) -> tuple[dict[str, Any], float]:
    """Segment pairs with their times, and where in the track the video should start."""
    if alignment is None:
        return {"pairs": []}, 0.0
    pairs = [
        {
            "track_segment": int(i),
            "query_segment": int(j),
            "track_start_s": _r(track_bounds[i]),
            "track_end_s": _r(track_bounds[i + 1]),
            "query_start_s": _r(query_bounds[j]),
            "query_end_s": _r(query_bounds[j + 1]),
        }
        for i, j in np.asarray(alignment.pairs).reshape(-1, 2)
    ]
    anchor = 0.0
    if pairs:  # put the first aligned query segment on its track segment
        anchor = max(0.0, pairs[0]["track_start_s"] - pairs[0]["query_start_s"])
    body = {
        "method": alignment.method,
        "pairs": pairs,
        "offset": alignment.offset,
        "track_span": list(alignment.track_span) if alignment.track_span else None,
        "query_span": list(alignment.query_span) if alignment.query_span else None,
    }
    return body, anchor


def _track_fields(track: Track) -> dict[str, Any]:
    summary = track_summary(track)
    return {
        key: summary[key]
        for key in ("title", "artist", "license", "tags", "tags_auto", "bpm", "duration_s")
    }


def _segments(boundaries: np.ndarray) -> list[dict[str, float]]:
    return [{"start_s": _r(a), "end_s": _r(b)} for a, b in zip(boundaries[:-1], boundaries[1:])]


def _r(value: float) -> float:
    return round(float(value), 3)


def options_to_params(options: QueryOptions) -> dict[str, Any]:
    """JSON form of the options, to hand a query to a background job."""
    f = options.filters or SearchFilters()
    return {
        "k": options.k,
        "method": options.method,
        "shortlist": options.shortlist,
        "boundaries_s": list(options.boundaries_s) if options.boundaries_s else None,
        "min_segment_s": options.min_segment_s,
        "hubness": options.hubness,
        "sync": options.sync,
        "prefer": list(options.prefer),
        "filters": {
            "licenses": sorted(f.licenses) if f.licenses is not None else None,
            "exclude_artists": sorted(f.exclude_artists),
            "tags_all": sorted(f.tags_all),
            "tags_any": sorted(f.tags_any),
            "bpm_min": f.bpm_min,
            "bpm_max": f.bpm_max,
            "min_duration_s": f.min_duration_s,
            "vocals": f.vocals,
            "auto_tags": sorted(f.auto_tags),
            "auto_tag_min": f.auto_tag_min,
        },
    }


def options_from_params(params: dict[str, Any]) -> QueryOptions:
    f = params["filters"]
    filters = SearchFilters(
        licenses=frozenset(f["licenses"]) if f["licenses"] is not None else None,
        exclude_artists=frozenset(f["exclude_artists"]),
        tags_all=frozenset(f["tags_all"]),
        tags_any=frozenset(f["tags_any"]),
        bpm_min=f["bpm_min"],
        bpm_max=f["bpm_max"],
        min_duration_s=f["min_duration_s"],
        vocals=f.get("vocals"),
        auto_tags=frozenset(f.get("auto_tags", ())),
        **({"auto_tag_min": f["auto_tag_min"]} if "auto_tag_min" in f else {}),
    )
    bounds = params["boundaries_s"]
    return QueryOptions(
        k=params["k"],
        method=params["method"],
        shortlist=params["shortlist"],
        filters=filters,
        boundaries_s=tuple(bounds) if bounds else None,
        min_segment_s=params["min_segment_s"],
        hubness=params.get("hubness", "csls"),
        sync=params.get("sync", True),
        prefer=tuple(params.get("prefer", ())),
    )
