"""Ingest one catalog track: analyse, embed, and make it searchable atomically.

The analysis runs outside any transaction; then segments, downbeats, frame
features, embeddings, the index log entries and ``status = ready`` are written in
ONE transaction. A worker killed before that commit leaves the track pending (and
its job is redelivered); killed after it, the rerun sees a ready track and stops.

The active video-to-music model analyses the track; every other active model (a
similarity model, MuSimNet) embeds it from that same analysis (the same decoded
audio), written in that same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db.arrays import to_blob
from app.db.models import (
    IndexChange,
    Track,
    TrackAnalysis,
    TrackAutoTags,
    TrackEmbedding,
    TrackFeatures,
    TrackStatus,
)
from app.services.model_kind import ServingKind, VideoToMusic
from app.services.sync_evidence import stored_events
from ml.features.registry import get_extractor
from ml.features.tags import TrackTags
from ml.pipeline.analysis import TrackAnalysis as Analysis
from ml.pipeline.track import TAGGER, analyse_track_file
from ml.sync.prior import SyncPriors

Report = Callable[[str, float], None]


@dataclass(frozen=True)
class ModelEmbedding:
    """A track's ``(K, d)`` embeddings under one more model (``(1, d)`` under MuSimNet)."""

    model_id: int
    vectors: np.ndarray


@dataclass(frozen=True)
class EmbeddedTrack:
    analysis: Analysis
    features: np.ndarray  # (T, D) frame features at 1 Hz
    embeddings: np.ndarray  # (K, d) one per music segment
    others: tuple[ModelEmbedding, ...] = ()  # under the other active models


def embed_track_file(
    path, model: VideoToMusic, report: Report, others: Sequence[ServingKind] = ()
) -> EmbeddedTrack:
    """Analyse one track through the one track pipeline and embed it; each of the
    ``others`` (the active models of other roles) embeds the same analysis too."""
    report("analysing", 0.1)
    track = analyse_track_file(path, model.music_segmenter, model.audio_extractor, tagger=TAGGER)
    report("embedding", 0.8)
    return EmbeddedTrack(
        track.analysis,
        track.features,
        model.embed_analysed_track(track),
        tuple(ModelEmbedding(other.row_id, other.embed_analysed_track(track)) for other in others),
    )


def ready_tracks_without_embedding(db: Session, model_id: int) -> list[int]:
    """Ids of the ready tracks that have no embedding under ``model_id`` (re-embed's work)."""
    return list(
        db.scalars(
            select(Track.id)
            .where(Track.status == TrackStatus.ready)
            .where(
                ~Track.id.in_(
                    select(TrackEmbedding.track_id).where(TrackEmbedding.model_id == model_id)
                )
            )
            .order_by(Track.id)
        )
    )


def store_embeddings(
    db: Session,
    track_id: int,
    model_id: int,
    embeddings: np.ndarray,
    priors: SyncPriors | None = None,
) -> None:
    """Replace a track's ``(K, d)`` embeddings under one model (and its evidence
    ``priors`` under that model, if it has any) and log the change for that model's
    index (caller commits)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    db.execute(
        delete(TrackEmbedding).where(
            TrackEmbedding.track_id == track_id, TrackEmbedding.model_id == model_id
        )
    )
    db.add(
        TrackEmbedding(
            track_id=track_id,
            model_id=model_id,
            n_segments=embeddings.shape[0],
            dim=embeddings.shape[1],
            vectors=to_blob(embeddings),
            centroid=to_blob(embeddings.mean(axis=0)),
            beat_prior=_finite(priors.beat) if priors is not None else None,
            structure_prior=_finite(priors.structure) if priors is not None else None,
        )
    )
    db.add(IndexChange(model_id=model_id, track_id=track_id, op="add"))


def _finite(values: np.ndarray) -> float | None:
    """The one value of a ``(1,)`` array, None when it is NaN."""
    value = float(np.asarray(values).reshape(-1)[0])
    return value if np.isfinite(value) else None


def store_auto_tags(db: Session, track_id: int, tags: TrackTags) -> None:
    """Replace a track's automatic tags (caller commits)."""
    db.execute(delete(TrackAutoTags).where(TrackAutoTags.track_id == track_id))
    db.add(
        TrackAutoTags(
            track_id=track_id,
            source=tags.source,
            names=list(tags.names),
            confidences=to_blob(tags.confidences),
        )
    )


def stored_features(db: Session, track_id: int, audio_extractor: str) -> np.ndarray | None:
    """The track's 1 Hz ``(n_frames, dim)`` features saved at ingestion by
    ``audio_extractor`` (its current version), or None."""
    spec = get_extractor(audio_extractor, "audio").spec
    row = db.scalar(
        select(TrackFeatures).where(
            TrackFeatures.track_id == track_id,
            TrackFeatures.extractor == spec.name,
            TrackFeatures.version == spec.version,
        )
    )
    return row.array() if row is not None else None


def is_ingested(db: Session, track: Track, model_id: int) -> bool:
    return (
        track.status is TrackStatus.ready
        and db.scalar(
            select(TrackEmbedding.id).where(
                TrackEmbedding.track_id == track.id, TrackEmbedding.model_id == model_id
            )
        )
        is not None
    )


def save_embedded_track(
    db: Session, track: Track, model: VideoToMusic, result: EmbeddedTrack
) -> None:
    """Write everything about the track and mark it ready (caller commits once)."""
    analysis = result.analysis
    extractor = get_extractor(model.audio_extractor, "audio")
    db.execute(
        delete(TrackAnalysis).where(
            TrackAnalysis.track_id == track.id, TrackAnalysis.segmenter == model.music_segmenter
        )
    )
    db.execute(
        delete(TrackFeatures).where(
            TrackFeatures.track_id == track.id,
            TrackFeatures.extractor == extractor.name,
            TrackFeatures.version == extractor.version,
        )
    )
    beats = analysis.beats
    stored = TrackAnalysis(
        track_id=track.id,
        segmenter=model.music_segmenter,
        boundaries=to_blob(analysis.boundaries_s[model.music_segmenter]),
        beats=to_blob(beats.beats_s),
        downbeats=to_blob(beats.downbeats_s),
        tempo_bpm=beats.tempo_bpm,
        beats_per_bar=beats.beats_per_bar,
        versions={"extractors": [spec.key for spec in analysis.extractors]},
    )
    db.add(stored)
    db.add(
        TrackFeatures(
            track_id=track.id,
            extractor=extractor.name,
            version=extractor.version,
            n_frames=result.features.shape[0],
            dim=result.features.shape[1],
            values=to_blob(result.features),
        )
    )
    if analysis.tags is not None:
        store_auto_tags(db, track.id, analysis.tags)
    # The priors from the stored (float32) values a query's evidence will read.
    events = stored_events(stored, analysis.duration_s)
    priors = None
    if events is not None:
        priors = model.evidence_priors(events, np.asarray(result.features, np.float32))
    store_embeddings(db, track.id, model.row_id, result.embeddings, priors)
    for other in result.others:
        store_embeddings(db, track.id, other.model_id, other.vectors)
    track.status, track.error = TrackStatus.ready, None
    track.duration_s = analysis.duration_s
    track.bpm = beats.tempo_bpm if np.isfinite(beats.tempo_bpm or np.nan) else None
