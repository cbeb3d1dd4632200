"""``reembed``: embed the whole catalog with another model, then (optionally) activate it.

The active model of the same role keeps serving while this runs; each track is
written in its own transaction, and the switch happens only once every ready track
has an embedding under the new model, so a search never sees a half-embedded
catalog.

- A video-to-music model (Seg-VM-Net, VM-Net) reuses the cached 1 Hz features and
  segmentations when its extractor and music segmenter match; otherwise the track is
  analysed again.
- A similarity model (MuSimNet) decodes each track's audio and embeds it (the CQT is
  not cached: it is as cheap to recompute as to store). The video-to-music model stays
  active throughout and after.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.arrays import from_blob
from app.db.models import Model, Track, TrackAnalysis, TrackFeatures
from app.events import announce_catalog_change
from app.jobs.kinds import REEMBED
from app.jobs.registry import JobContext, JobFailed, handler
from app.media_store import MediaStore
from app.services.ingest import (
    embed_track_file,
    ready_tracks_without_embedding,
    save_embedded_track,
    store_embeddings,
)
from app.services.models import ServingModel, ServingMuSimNet, activate_model, is_similarity_kind
from ml.features.registry import get_extractor
from ml.media.errors import MediaError
from ml.segments import segment_vectors
from worker.handlers.ingest import serving_models

#: Embeds one track; returns "from_cache", "analysed", "failed", or None (track gone).
EmbedOne = Callable[[int], str | None]


def cached_embedding(db, track_id: int, model: ServingModel) -> np.ndarray | None:
    """Embeddings from stored features and boundaries, or None if either is missing."""
    spec = get_extractor(model.audio_extractor, "audio").spec
    features = db.scalar(
        select(TrackFeatures).where(
            TrackFeatures.track_id == track_id,
            TrackFeatures.extractor == spec.name,
            TrackFeatures.version == spec.version,
        )
    )
    analysis = db.scalar(
        select(TrackAnalysis).where(
            TrackAnalysis.track_id == track_id, TrackAnalysis.segmenter == model.music_segmenter
        )
    )
    if features is None or analysis is None:
        return None
    bounds = from_blob(analysis.boundaries, -1).astype(np.float64)
    return model.embed_music(segment_vectors(features.array(), bounds))


def two_branch_embedder(
    sessions: sessionmaker[Session], store: MediaStore, model: ServingModel
) -> EmbedOne:
    """Segment embeddings from the cache when possible, else from a fresh analysis."""

    def embed(track_id: int) -> str | None:
        with sessions.begin() as db:
            track = db.get(Track, track_id)
            if track is None:
                return None
            embeddings = cached_embedding(db, track_id, model)
            if embeddings is not None:
                store_embeddings(db, track_id, model.row_id, embeddings)
                return "from_cache"
            media_key = track.media_key
        try:
            result = embed_track_file(store.path_for(media_key), model, lambda *_: None)
        except MediaError:
            return "failed"
        with sessions.begin() as db:
            track = db.get(Track, track_id)
            if track is None:
                return None
            save_embedded_track(db, track, model, result)
        return "analysed"

    return embed


def musimnet_embedder(
    sessions: sessionmaker[Session], store: MediaStore, model: ServingMuSimNet
) -> EmbedOne:
    """One MuSimNet embedding per track, from its stored audio."""

    def embed(track_id: int) -> str | None:
        with sessions() as db:
            track = db.get(Track, track_id)
            if track is None:
                return None
            media_key = track.media_key
        try:
            vector = model.embed_file(store.path_for(media_key))
        except MediaError:
            return "failed"
        with sessions.begin() as db:
            if db.get(Track, track_id) is None:  # deleted while it was embedded
                return None
            store_embeddings(db, track_id, model.row_id, vector)
        return "analysed"

    return embed


@handler(REEMBED)
def reembed_catalog(context: JobContext) -> dict:
    model_id = int(context.params["model_id"])
    store = MediaStore(context.settings.media_dir)
    models = serving_models(context.settings.device)
    with context.sessions() as db:
        row = db.get(Model, model_id)
        if row is None:
            raise JobFailed(f"model {model_id} does not exist")
        if is_similarity_kind(row.kind):
            embed = musimnet_embedder(context.sessions, store, models.similarity(row))
        else:
            embed = two_branch_embedder(context.sessions, store, models.get(row))
        todo = ready_tracks_without_embedding(db, model_id)
    outcomes: Counter[str | None] = Counter()
    for done, track_id in enumerate(todo):
        context.report("embedding", done / max(len(todo), 1))
        outcomes[embed(track_id)] += 1
    activated = bool(context.params.get("activate")) and outcomes["failed"] == 0
    if activated:
        with context.sessions.begin() as db:
            activate_model(db, db.get(Model, model_id))
    announce_catalog_change(context.settings.broker_url)
    return {
        "model_id": model_id,
        "tracks": len(todo),
        "from_cache": outcomes["from_cache"],
        "analysed": outcomes["analysed"],
        "failed": outcomes["failed"],
        "activated": activated,
    }
