"""Ingest one catalog track: analyse, embed, and make it searchable atomically.

The analysis runs outside any transaction; then segments, downbeats, frame
features, embeddings, the index log entries and ``status = ready`` are written in
ONE transaction. A worker killed before that commit leaves the track pending (and
its job is redelivered); killed after it, the rerun sees a ready track and stops.

When a similarity model (MuSimNet) is active, the track's MuSimNet embedding is
computed from the same decoded audio and written in that same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db.arrays import to_blob
from app.db.models import (
    IndexChange,
    Track,
    TrackAnalysis,
    TrackEmbedding,
    TrackFeatures,
    TrackStatus,
)
from app.services.models import ServingModel, ServingMuSimNet
from ml.features.registry import get_extractor
from ml.pipeline.analysis import DECODE_SAMPLE_RATE
from ml.pipeline.analysis import TrackAnalysis as Analysis
from ml.pipeline.track import analyse_track_file

Report = Callable[[str, float], None]


@dataclass(frozen=True)
class SimilarityEmbedding:
    """A track's embedding under a similarity model: ``(1, d)``, one "segment"."""

    model_id: int
    vector: np.ndarray


@dataclass(frozen=True)
class EmbeddedTrack:
    analysis: Analysis
    features: np.ndarray  # (T, D) frame features at 1 Hz
    embeddings: np.ndarray  # (K, d) one per music segment
    similarity: SimilarityEmbedding | None = None


def embed_track_file(
    path, model: ServingModel, report: Report, similarity: ServingMuSimNet | None = None
) -> EmbeddedTrack:
    """Analyse one track through the one track pipeline and embed it; with a
    ``similarity`` model, also its MuSimNet embedding from the same decoded audio."""
    report("analysing", 0.1)
    track = analyse_track_file(path, model.music_segmenter, model.audio_extractor)
    report("embedding", 0.8)
    extra = (
        SimilarityEmbedding(
            similarity.row_id, similarity.embed_signal(track.signal, DECODE_SAMPLE_RATE)
        )
        if similarity is not None
        else None
    )
    return EmbeddedTrack(
        track.analysis, track.features, model.embed_music(track.segment_vectors), extra
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


def store_embeddings(db: Session, track_id: int, model_id: int, embeddings: np.ndarray) -> None:
    """Replace a track's ``(K, d)`` embeddings under one model and log the change for
    that model's index (caller commits)."""
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
        )
    )
    db.add(IndexChange(model_id=model_id, track_id=track_id, op="add"))


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
    db: Session, track: Track, model: ServingModel, result: EmbeddedTrack
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
    db.add(
        TrackAnalysis(
            track_id=track.id,
            segmenter=model.music_segmenter,
            boundaries=to_blob(analysis.boundaries_s[model.music_segmenter]),
            beats=to_blob(beats.beats_s),
            downbeats=to_blob(beats.downbeats_s),
            tempo_bpm=beats.tempo_bpm,
            beats_per_bar=beats.beats_per_bar,
            versions={"extractors": [spec.key for spec in analysis.extractors]},
        )
    )
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
    store_embeddings(db, track.id, model.row_id, result.embeddings)
    if result.similarity is not None:
        store_embeddings(db, track.id, result.similarity.model_id, result.similarity.vector)
    track.status, track.error = TrackStatus.ready, None
    track.duration_s = analysis.duration_s
    track.bpm = beats.tempo_bpm if np.isfinite(beats.tempo_bpm or np.nan) else None
