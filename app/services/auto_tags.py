"""Automatic tags of catalog tracks ingested before they were stored, or tagged by an
earlier tagger (the re-embed job's step): decode the stored media, tag it as ingestion would
(:func:`ml.pipeline.track.soundtrack_tags`), store the tags, and log an ``add`` for
every model that holds the track so each index reloads its metadata."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import IndexChange, Track, TrackAutoTags, TrackEmbedding, TrackStatus
from app.media_store import MediaStore
from app.services.ingest import store_auto_tags
from ml.media.errors import MediaError
from ml.pipeline.track import decode_soundtrack, soundtrack_tags, tagger_source


def untagged_ready_tracks(db: Session) -> list[int]:
    """Ids of the ready tracks without automatic tags from the current tagger (none, or
    another tagger's, such as the MSD vocabulary alone), ascending."""
    current = select(TrackAutoTags.track_id).where(TrackAutoTags.source == tagger_source())
    return list(
        db.scalars(
            select(Track.id)
            .where(Track.status == TrackStatus.ready)
            .where(~Track.id.in_(current))
            .order_by(Track.id)
        )
    )


def tag_catalog_track(
    sessions: sessionmaker[Session], store: MediaStore, track_id: int
) -> str | None:
    """Tag one stored track: "tagged", "failed" (its media cannot be decoded), or None
    (the track is gone)."""
    with sessions.begin() as db:
        track = db.get(Track, track_id)
        if track is None:
            return None
        media_key = track.media_key
    try:
        tags = soundtrack_tags(decode_soundtrack(store.path_for(media_key)))
    except MediaError:
        return "failed"
    with sessions.begin() as db:
        if db.get(Track, track_id) is None:
            return None
        store_auto_tags(db, track_id, tags)
        models = db.scalars(
            select(TrackEmbedding.model_id).where(TrackEmbedding.track_id == track_id)
        )
        for model_id in models.all():
            db.add(IndexChange(model_id=model_id, track_id=track_id, op="add"))
    return "tagged"
