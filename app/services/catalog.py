"""Catalog operations: add a track (idempotent on content), list, delete.

Every write is one transaction. A track's file is checked (probed) before any
row is written, so a bad upload leaves the catalog exactly as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import IndexChange, Job, Track, TrackEmbedding, TrackStatus
from app.media_store import StoredFile
from app.settings import Settings
from ml.media.decode import MediaInfo, probe
from ml.media.errors import MediaTooLongError, MediaTooShortError, NoAudioStreamError
from worker.jobs import new_job


class MetadataError(ValueError):
    """The ``metadata`` form field is not a valid JSON object of track metadata."""


class TrackMetadata(BaseModel):
    """What a catalog owner says about a track; unknown keys are kept in ``extra``."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    title: str = Field("", max_length=512)
    artist: str = Field("", max_length=512)
    license: str = Field("", max_length=128)
    tags: list[str] = Field(default_factory=list, max_length=256)

    @classmethod
    def parse(cls, raw: str | None) -> TrackMetadata:
        if raw is None or not raw.strip():
            return cls()
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'metadata'}: {e['msg']}" for e in exc.errors())
            raise MetadataError(f"metadata must be a JSON object ({problems})") from None

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


@dataclass(frozen=True)
class Added:
    track: Track
    job: Job | None
    created: bool


def check_track_media(path: Path, settings: Settings) -> MediaInfo:
    """Reject what can never become a catalog track, before anything is stored."""
    info = probe(path)
    if not info.has_audio:
        raise NoAudioStreamError("the file has no audio stream: a catalog track needs sound")
    if info.duration_s < settings.min_media_seconds:
        raise MediaTooShortError(f"the track lasts {info.duration_s:.2f} s; at least "
                                 f"{settings.min_media_seconds:g} s are needed")
    if info.duration_s > settings.max_media_seconds:
        raise MediaTooLongError(f"the track lasts {info.duration_s:.0f} s; at most "
                                f"{settings.max_media_seconds:g} s are accepted")
    return info


def add_track(db: Session, stored: StoredFile, info: MediaInfo, metadata: TrackMetadata,
              filename: str) -> Added:
    """Create the track and its ingest job, or return the track with this content."""
    existing = db.scalar(select(Track).where(Track.content_hash == stored.key))
    if existing is not None and existing.status is TrackStatus.failed:
        existing.status, existing.error = TrackStatus.pending, None  # a retry
        job = new_job(db, "ingest", {"track_id": existing.id}, track_id=existing.id)
        return Added(existing, job, created=True)
    if existing is not None:
        return Added(existing, latest_job(db, existing.id), created=False)
    track = Track(title=metadata.title or Path(filename).stem[:512], artist=metadata.artist,
                  license=metadata.license, tags=metadata.tags, extra=metadata.extra_fields(),
                  duration_s=info.duration_s, content_hash=stored.key, media_key=stored.key,
                  original_filename=filename[:512], status=TrackStatus.pending)
    try:
        with db.begin_nested():
            db.add(track)
            db.flush()
    except IntegrityError:  # the same content uploaded concurrently: theirs wins
        existing = db.scalar(select(Track).where(Track.content_hash == stored.key))
        return Added(existing, latest_job(db, existing.id), created=False)
    job = new_job(db, "ingest", {"track_id": track.id}, track_id=track.id)
    return Added(track, job, created=True)


def media_in_use(db: Session, key: str) -> bool:
    return db.scalar(select(Track.id).where(Track.media_key == key).limit(1)) is not None


def latest_job(db: Session, track_id: int) -> Job | None:
    return db.scalar(select(Job).where(Job.track_id == track_id)
                     .order_by(Job.created_at.desc()).limit(1))


@dataclass(frozen=True)
class TrackQuery:
    status: str | None = None
    artist: str | None = None
    license: str | None = None
    tag: str | None = None
    q: str | None = None
    limit: int = 50
    offset: int = 0


def list_tracks(db: Session, query: TrackQuery) -> tuple[list[Track], int]:
    stmt = select(Track)
    if query.status:
        stmt = stmt.where(Track.status == TrackStatus(query.status))
    if query.artist:
        stmt = stmt.where(Track.artist == query.artist)
    if query.license:
        stmt = stmt.where(Track.license == query.license)
    if query.q:
        stmt = stmt.where(Track.title.ilike(f"%{query.q}%"))
    rows = db.scalars(stmt.order_by(Track.id)).all()
    if query.tag:  # JSON containment differs between SQLite and Postgres: filter here
        rows = [t for t in rows if query.tag in (t.tags or [])]
    return rows[query.offset:query.offset + query.limit], len(rows)


@dataclass(frozen=True)
class Deleted:
    model_ids: list[int]  # the indexes that must forget the track
    orphaned_media_key: str | None  # unlink after commit: no other row needs the file


def delete_track(db: Session, track: Track) -> Deleted:
    """Delete a track and log its removal for every model's index (caller commits)."""
    model_ids = list(db.scalars(select(TrackEmbedding.model_id)
                                .where(TrackEmbedding.track_id == track.id)))
    for model_id in model_ids:
        db.add(IndexChange(model_id=model_id, track_id=track.id, op="remove"))
    key = track.media_key
    db.delete(track)
    db.flush()
    return Deleted(model_ids, None if media_in_use(db, key) else key)


def track_summary(track: Track) -> dict[str, Any]:
    return {
        "track_id": track.id, "title": track.title, "artist": track.artist,
        "license": track.license, "tags": list(track.tags or []), "extra": dict(track.extra or {}),
        "duration_s": _finite(track.duration_s), "bpm": _finite(track.bpm),
        "status": track.status.value, "error": track.error,
        "created_at": track.created_at.isoformat() if track.created_at else None,
    }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)
