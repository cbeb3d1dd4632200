"""Ingest one catalog track: analyse, embed, and make it searchable atomically.

The analysis runs outside any transaction; then segments, downbeats, frame
features, embeddings, the index log entry and ``status = ready`` are written in
ONE transaction. A worker killed before that commit leaves the track pending (and
its job is redelivered); killed after it, the rerun sees a ready track and stops.
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
from app.services.models import ServingModel
from ml.features.registry import get_extractor
from ml.media.analysis import TrackAnalysis as Analysis
from ml.media.analysis import analyse_track
from ml.segments import segment_vectors

Report = Callable[[str, float], None]


@dataclass(frozen=True)
class EmbeddedTrack:
    analysis: Analysis
    features: np.ndarray  # (T, D) frame features at 1 Hz
    embeddings: np.ndarray  # (K, d) one per music segment


def embed_track_file(path, model: ServingModel, report: Report) -> EmbeddedTrack:
    """Decode, segment, find downbeats, extract features and embed one track."""
    report("analysing", 0.1)
    analysis = analyse_track(path, segmenter=model.music_segmenter,
                             audio_extractors=[model.audio_extractor])
    extractor = get_extractor(model.audio_extractor, "audio")
    features = analysis.features[extractor.spec.key]
    report("embedding", 0.8)
    vectors = segment_vectors(features, analysis.boundaries_s[model.music_segmenter])
    return EmbeddedTrack(analysis, features, model.embed_music(vectors))


def is_ingested(db: Session, track: Track, model_id: int) -> bool:
    return track.status is TrackStatus.ready and db.scalar(
        select(TrackEmbedding.id).where(TrackEmbedding.track_id == track.id,
                                        TrackEmbedding.model_id == model_id)) is not None


def save_embedded_track(db: Session, track: Track, model: ServingModel,
                        result: EmbeddedTrack) -> None:
    """Write everything about the track and mark it ready (caller commits once)."""
    analysis = result.analysis
    extractor = get_extractor(model.audio_extractor, "audio")
    db.execute(delete(TrackAnalysis).where(TrackAnalysis.track_id == track.id,
                                           TrackAnalysis.segmenter == model.music_segmenter))
    db.execute(delete(TrackFeatures).where(TrackFeatures.track_id == track.id,
                                           TrackFeatures.extractor == extractor.name,
                                           TrackFeatures.version == extractor.version))
    db.execute(delete(TrackEmbedding).where(TrackEmbedding.track_id == track.id,
                                            TrackEmbedding.model_id == model.row_id))
    beats = analysis.beats
    db.add(TrackAnalysis(track_id=track.id, segmenter=model.music_segmenter,
                         boundaries=to_blob(analysis.boundaries_s[model.music_segmenter]),
                         beats=to_blob(beats.beats_s), downbeats=to_blob(beats.downbeats_s),
                         tempo_bpm=beats.tempo_bpm, beats_per_bar=beats.beats_per_bar,
                         versions={"extractors": [spec.key for spec in analysis.extractors]}))
    db.add(TrackFeatures(track_id=track.id, extractor=extractor.name, version=extractor.version,
                         n_frames=result.features.shape[0], dim=result.features.shape[1],
                         values=to_blob(result.features)))
    embeddings = result.embeddings.astype(np.float32)
    db.add(TrackEmbedding(track_id=track.id, model_id=model.row_id,
                          n_segments=embeddings.shape[0], dim=embeddings.shape[1],
                          vectors=to_blob(embeddings), centroid=to_blob(embeddings.mean(axis=0))))
    db.add(IndexChange(model_id=model.row_id, track_id=track.id, op="add"))
    track.status, track.error = TrackStatus.ready, None
    track.duration_s = analysis.duration_s
    track.bpm = beats.tempo_bpm if np.isfinite(beats.tempo_bpm or np.nan) else None
