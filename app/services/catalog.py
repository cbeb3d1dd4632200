"""Catalog operations: add a track (idempotent on content), list, delete.

Every write is one transaction. A track's file is checked (probed) before any
row is written, so a bad upload leaves the catalog exactly as it was. A track and
its ingest job are written in the same transaction: no track without a job to
ingest it, and a database failure leaves no stored file that no row names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import ColumnElement, exists, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import IndexChange, Job, JobStatus, Track, TrackEmbedding, TrackStatus
from app.db.session import begin_write
from app.jobs.kinds import INGEST
from app.jobs.records import new_job
from app.media_store import StoredFile, remove_stored_file
from app.settings import Settings
from ml.features.tags import TrackTags
from ml.media.decode import MediaInfo, probe
from ml.media.errors import MediaTooLongError, MediaTooShortError, NoAudioStreamError


class MetadataError(ValueError):
    """The ``metadata`` form field is not a valid JSON object of track metadata."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def unstorable_text(value: Any) -> str | None:
    """The first string in ``value`` (a JSON-like tree, keys included) that no database
    can store, or None: PostgreSQL refuses NUL characters in text, and neither database
    encodes a lone UTF-16 surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value
        return None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple)):
        return next((bad for item in value if (bad := unstorable_text(item)) is not None), None)
    return None


def clean_filename(name: str | None) -> str:
    """An uploaded file's name as kept for display: control characters (NUL included)
    and characters that cannot be encoded are dropped, at most 512 characters."""
    text = (name or "").encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", text).strip()[:512] or "upload"


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
                f"{'.'.join(map(str, e['loc'])) or 'metadata'}: {e['msg']}" for e in exc.errors()
            )
            raise MetadataError(f"metadata must be a JSON object ({problems})") from None

    @model_validator(mode="after")
    def _storable(self) -> TrackMetadata:
        if unstorable_text(self.model_dump()) is not None:
            raise ValueError(
                "text must not contain NUL characters (\\u0000) or unpaired surrogates"
            )
        return self

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
        raise MediaTooShortError(
            f"the track lasts {info.duration_s:.2f} s; at least "
            f"{settings.min_media_seconds:g} s are needed"
        )
    if info.duration_s > settings.max_media_seconds:
        raise MediaTooLongError(
            f"the track lasts {info.duration_s:.0f} s; at most "
            f"{settings.max_media_seconds:g} s are accepted"
        )
    return info


def add_track(
    db: Session, stored: StoredFile, info: MediaInfo, metadata: TrackMetadata, filename: str
) -> Added:
    """Create the track and its ingest job in one transaction, committed here; or return
    the track with this content, with a new ingest job when it was left pending, running
    or failed without a live one (a retry).

    Concurrent uploads of the same content all get the one track and its job. If the
    write fails, it is rolled back and the stored file removed unless a track uses it.
    """
    try:
        added = _add_or_reuse(db, stored, info, metadata, clean_filename(filename))
        db.commit()
    except BaseException:
        db.rollback()
        _forget_unused_file(db, stored)
        raise
    return added


def _add_or_reuse(
    db: Session, stored: StoredFile, info: MediaInfo, metadata: TrackMetadata, filename: str
) -> Added:
    begin_write(db)  # SQLite: one writer at a time from here, reading the latest rows
    existing = _track_with_content(db, stored.key)
    if existing is None:
        track = Track(
            title=metadata.title or Path(filename).stem[:512],
            artist=metadata.artist,
            license=metadata.license,
            tags=metadata.tags,
            extra=metadata.extra_fields(),
            duration_s=info.duration_s,
            content_hash=stored.key,
            media_key=stored.key,
            original_filename=filename,
            status=TrackStatus.pending,
        )
        try:
            with db.begin_nested():
                db.add(track)
                db.flush()
        except IntegrityError:  # PostgreSQL: the same content committed concurrently
            existing = _track_with_content(db, stored.key)
        else:
            return Added(track, _queue_ingest(db, track), created=True)
    return _reuse(db, existing)


def _track_with_content(db: Session, key: str) -> Track | None:
    # FOR UPDATE (PostgreSQL): two re-uploads of a failed track queue one retry, not two.
    return db.scalar(select(Track).where(Track.content_hash == key).with_for_update())


def _reuse(db: Session, track: Track) -> Added:
    """The existing track; re-queued when it is not ready and no job is working on it."""
    live = live_ingest_job(db, track.id)
    if live is None and track.status is not TrackStatus.ready:
        track.status, track.error = TrackStatus.pending, None  # a retry
        return Added(track, _queue_ingest(db, track), created=True)
    return Added(track, live or latest_job(db, track.id), created=False)


def _queue_ingest(db: Session, track: Track) -> Job:
    job = new_job(db, INGEST, {"track_id": track.id}, track_id=track.id)
    db.flush()  # a failing write fails here, inside add_track's clean-up
    return job


def _forget_unused_file(db: Session, stored: StoredFile) -> None:
    """After a failed write: remove the stored file unless a committed track uses it."""
    try:
        in_use = media_in_use(db, stored.key)
    except Exception:  # noqa: BLE001  (the database is unreachable: keeping it is safe)
        return
    if not in_use:
        remove_stored_file(stored.path)


def media_in_use(db: Session, key: str) -> bool:
    return db.scalar(select(Track.id).where(Track.media_key == key).limit(1)) is not None


def latest_job(db: Session, track_id: int) -> Job | None:
    return db.scalar(
        select(Job).where(Job.track_id == track_id).order_by(Job.created_at.desc()).limit(1)
    )


def live_ingest_job(db: Session, track_id: int) -> Job | None:
    """The track's ingest job that is queued or running, if any."""
    return db.scalar(
        select(Job)
        .where(
            Job.track_id == track_id,
            Job.kind == "ingest",
            Job.status.in_([JobStatus.queued, JobStatus.running]),
        )
        .order_by(Job.created_at.desc())
        .limit(1)
    )


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
    """One page of the tracks that match, in id order, and how many match in all: both
    counted and sliced by the database (LIMIT/OFFSET and COUNT), never in memory."""
    conditions = track_conditions(query, db.get_bind().dialect.name)
    total = db.scalar(select(func.count()).select_from(Track).where(*conditions))
    rows = db.scalars(
        select(Track).where(*conditions).order_by(Track.id).limit(query.limit).offset(query.offset)
    ).all()
    return list(rows), int(total or 0)


def track_conditions(query: TrackQuery, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a track listing's filters. A filter holding text that no
    row can hold (a NUL, which PostgreSQL would refuse to even compare) matches nothing."""
    if unstorable_text([query.artist, query.license, query.tag, query.q]) is not None:
        return [false()]
    conditions: list[ColumnElement[bool]] = []
    if query.status:
        conditions.append(Track.status == TrackStatus(query.status))
    if query.artist:
        conditions.append(Track.artist == query.artist)
    if query.license:
        conditions.append(Track.license == query.license)
    if query.q:
        conditions.append(Track.title.ilike(f"%{query.q}%"))
    if query.tag:
        conditions.append(has_tag(query.tag, dialect))
    return conditions


def has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    """``tag`` is one of the track's tags (a JSON array), on SQLite and PostgreSQL."""
    elements = (
        func.json_each(Track.tags)
        if dialect == "sqlite"
        else func.json_array_elements_text(Track.tags)
    ).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == tag))


@dataclass(frozen=True)
class Deleted:
    model_ids: list[int]  # the indexes that must forget the track
    orphaned_media_key: str | None  # unlink after commit: no other row needs the file


def delete_track(db: Session, track: Track) -> Deleted:
    """Delete a track and log its removal for every model's index (caller commits)."""
    model_ids = list(
        db.scalars(select(TrackEmbedding.model_id).where(TrackEmbedding.track_id == track.id))
    )
    for model_id in model_ids:
        db.add(IndexChange(model_id=model_id, track_id=track.id, op="remove"))
    key = track.media_key
    db.delete(track)
    db.flush()
    return Deleted(model_ids, None if media_in_use(db, key) else key)


def track_summary(track: Track) -> dict[str, Any]:
    return {
        "track_id": track.id,
        "title": track.title,
        "artist": track.artist,
        "license": track.license,
        "tags": list(track.tags or []),
        "tags_auto": auto_tags_summary(track),
        "extra": dict(track.extra or {}),
        "duration_s": _finite(track.duration_s),
        "bpm": _finite(track.bpm),
        "status": track.status.value,
        "error": track.error,
        "created_at": track.created_at.isoformat() if track.created_at else None,
    }


#: How many automatic tags a track's answer shows (its most confident ones).
AUTO_TAGS_SHOWN = 10


def auto_tags_summary(track: Track) -> dict[str, float] | None:
    """The track's :data:`AUTO_TAGS_SHOWN` most confident automatic tags, best first
    (tag -> confidence in [0, 1]); None for a track not tagged yet."""
    row = track.auto_tags
    if row is None:
        return None
    return TrackTags(tuple(row.names), row.values(), row.source).top(AUTO_TAGS_SHOWN)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)
