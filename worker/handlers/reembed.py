"""``reembed``: embed the whole catalog with another model, then (optionally) activate it.

The active model keeps serving while this runs; each track is written in its own
transaction, and the switch happens only once every ready track has an embedding
under the new model, so a search never sees a half-embedded catalog. Cached 1 Hz
features and segmentations are reused when the new model's extractor and music
segmenter match; otherwise the track is analysed again.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from app.db.arrays import from_blob, to_blob
from app.db.models import (
    IndexChange,
    Model,
    Track,
    TrackAnalysis,
    TrackEmbedding,
    TrackFeatures,
    TrackStatus,
)
from app.events import announce_catalog_change
from app.media_store import MediaStore
from app.services.ingest import embed_track_file, save_embedded_track
from app.services.models import ServingModel, activate_model
from ml.features.registry import get_extractor
from ml.media.errors import MediaError
from ml.segments import segment_vectors
from worker.handlers.ingest import serving_models
from worker.jobs import JobContext, JobFailed, handler


def cached_embedding(db, track_id: int, model: ServingModel) -> np.ndarray | None:
    """Embeddings from stored features and boundaries, or None if either is missing."""
    spec = get_extractor(model.audio_extractor, "audio").spec
    features = db.scalar(select(TrackFeatures).where(
        TrackFeatures.track_id == track_id, TrackFeatures.extractor == spec.name,
        TrackFeatures.version == spec.version))
    analysis = db.scalar(select(TrackAnalysis).where(
        TrackAnalysis.track_id == track_id, TrackAnalysis.segmenter == model.music_segmenter))
    if features is None or analysis is None:
        return None
    bounds = from_blob(analysis.boundaries, -1).astype(np.float64)
    return model.embed_music(segment_vectors(features.array(), bounds))


@handler("reembed")
def reembed_catalog(context: JobContext) -> dict:
    model_id = int(context.params["model_id"])
    with context.sessions() as db:
        row = db.get(Model, model_id)
        if row is None:
            raise JobFailed(f"model {model_id} does not exist")
        model = serving_models(context.settings.device).get(row)
        todo = list(db.scalars(
            select(Track.id).where(Track.status == TrackStatus.ready)
            .where(~Track.id.in_(select(TrackEmbedding.track_id)
                                 .where(TrackEmbedding.model_id == model_id)))
            .order_by(Track.id)))
    store = MediaStore(context.settings.media_dir)
    reused = analysed = failed = 0
    for done, track_id in enumerate(todo):
        context.report("embedding", done / max(len(todo), 1))
        with context.sessions.begin() as db:
            track = db.get(Track, track_id)
            if track is None:
                continue
            embeddings = cached_embedding(db, track_id, model)
            if embeddings is not None:
                db.add(TrackEmbedding(track_id=track_id, model_id=model_id,
                                      n_segments=len(embeddings), dim=embeddings.shape[1],
                                      vectors=to_blob(embeddings),
                                      centroid=to_blob(embeddings.mean(axis=0))))
                db.add(IndexChange(model_id=model_id, track_id=track_id, op="add"))
                reused += 1
                continue
            media_key = track.media_key
        try:
            result = embed_track_file(store.path_for(media_key), model, lambda *_: None)
        except MediaError:
            failed += 1
            continue
        with context.sessions.begin() as db:
            track = db.get(Track, track_id)
            if track is not None:
                save_embedded_track(db, track, model, result)
                analysed += 1
    if context.params.get("activate") and failed == 0:
        with context.sessions.begin() as db:
            activate_model(db, db.get(Model, model_id))
    announce_catalog_change(context.settings.broker_url)
    return {"model_id": model_id, "tracks": len(todo), "from_cache": reused,
            "analysed": analysed, "failed": failed,
            "activated": bool(context.params.get("activate") and failed == 0)}
