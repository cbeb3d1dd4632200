"""The schema. Alembic migrations in ``migrations/`` are the only way it changes.

A track becomes visible to search only when its status is ``ready``, and that
status is written in the same transaction as its analysis and embeddings, so a
crash at any point never leaves a track half-visible.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db.arrays import from_blob, to_blob

# SQLite only auto-increments INTEGER PRIMARY KEY; Postgres gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class TrackStatus(str, enum.Enum):
    pending = "pending"
    processing = "processing"
    ready = "ready"
    failed = "failed"


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK: no native ENUM type to migrate.
    return Enum(
        cls, name=name, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
    )


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(512), default="")
    artist: Mapped[str] = mapped_column(String(512), default="", index=True)
    license: Mapped[str] = mapped_column(String(128), default="", index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    duration_s: Mapped[float | None] = mapped_column(Float)
    bpm: Mapped[float | None] = mapped_column(Float)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    media_key: Mapped[str] = mapped_column(String(128))
    original_filename: Mapped[str] = mapped_column(String(512), default="")
    status: Mapped[TrackStatus] = mapped_column(
        _enum(TrackStatus, "track_status"), default=TrackStatus.pending, index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    analyses: Mapped[list[TrackAnalysis]] = relationship(
        back_populates="track", cascade="all, delete-orphan", passive_deletes=True
    )
    embeddings: Mapped[list[TrackEmbedding]] = relationship(
        back_populates="track", cascade="all, delete-orphan", passive_deletes=True
    )
    auto_tags: Mapped[TrackAutoTags | None] = relationship(
        back_populates="track", cascade="all, delete-orphan", passive_deletes=True
    )


class TrackAnalysis(Base):
    """What the media analysis found: one row per track and music segmenter."""

    __tablename__ = "track_analyses"
    __table_args__ = (UniqueConstraint("track_id", "segmenter"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    segmenter: Mapped[str] = mapped_column(String(32))
    boundaries: Mapped[bytes] = mapped_column(LargeBinary)  # float32 seconds, K+1
    beats: Mapped[bytes] = mapped_column(LargeBinary)  # float32 seconds
    downbeats: Mapped[bytes] = mapped_column(LargeBinary)  # float32 seconds
    tempo_bpm: Mapped[float | None] = mapped_column(Float)
    beats_per_bar: Mapped[int | None] = mapped_column(Integer)
    versions: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    track: Mapped[Track] = relationship(back_populates="analyses")

    def boundaries_s(self) -> np.ndarray:
        return from_blob(self.boundaries, -1)

    def beats_s(self) -> np.ndarray:
        return from_blob(self.beats, -1)

    def downbeats_s(self) -> np.ndarray:
        return from_blob(self.downbeats, -1)

    @staticmethod
    def encode(times: np.ndarray) -> bytes:
        return to_blob(times)


class TrackFeatures(Base):
    """Frame features at 1 Hz, cached so a new model re-embeds without re-decoding."""

    __tablename__ = "track_features"
    __table_args__ = (UniqueConstraint("track_id", "extractor", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    extractor: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    n_frames: Mapped[int] = mapped_column(Integer)
    dim: Mapped[int] = mapped_column(Integer)
    values: Mapped[bytes] = mapped_column(LargeBinary)

    def array(self) -> np.ndarray:
        return from_blob(self.values, (self.n_frames, self.dim))


class TrackAutoTags(Base):
    """A track's automatic tags: its tagger's taggram averaged over the track
    (:class:`ml.features.tags.TrackTags`), one row per track."""

    __tablename__ = "track_auto_tags"

    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(64))  # the tagger, "audio/musicnn@msd-1"
    names: Mapped[list[str]] = mapped_column(JSON)  # the tagger's vocabulary
    confidences: Mapped[bytes] = mapped_column(LargeBinary)  # float32, one per name
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    track: Mapped[Track] = relationship(back_populates="auto_tags")

    def values(self) -> np.ndarray:
        """``(len(names),)`` float32 confidences in [0, 1]."""
        return from_blob(self.confidences, len(self.names))


class Model(Base):
    """The model registry: what is needed to reproduce and to serve a model."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # segvmnet | vmnet | musimnet
    segmentation: Mapped[str] = mapped_column(String(32), default="")
    audio_extractor: Mapped[str] = mapped_column(String(64), default="")
    video_extractor: Mapped[str] = mapped_column(String(64), default="")
    dim: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    checksum: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrackEmbedding(Base):
    """A track's segment embeddings (K x d float32) under one model."""

    __tablename__ = "track_embeddings"
    __table_args__ = (UniqueConstraint("track_id", "model_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    n_segments: Mapped[int] = mapped_column(Integer)
    dim: Mapped[int] = mapped_column(Integer)
    vectors: Mapped[bytes] = mapped_column(LargeBinary)
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    #: The track's mean evidence over the model's bank of music videos (cuts on beats,
    #: structure agreement; ml.sync.prior), subtracted from a query's; None: no prior.
    beat_prior: Mapped[float | None] = mapped_column(Float)
    structure_prior: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    track: Mapped[Track] = relationship(back_populates="embeddings")

    def segment_matrix(self) -> np.ndarray:
        return from_blob(self.vectors, (self.n_segments, self.dim))

    def centroid_vector(self) -> np.ndarray:
        return from_blob(self.centroid, self.dim)


class IndexChange(Base):
    """Append-only log of what entered or left the searchable catalog.

    A persisted vector index remembers the last change id it applied (its
    watermark) and replays the rest on load, so no addition or deletion is
    missed by an API process that was down or did not get the broadcast.
    """

    __tablename__ = "index_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(Integer, index=True)
    track_id: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(8))  # "add" | "remove"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # ingest | reembed | recommend
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "job_status"), default=JobStatus.queued, index=True
    )
    stage: Mapped[str] = mapped_column(String(64), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    track_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracks.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ApiKey(Base):
    """Keys issued by an administrator; only a SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(256))  # comma-separated
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
