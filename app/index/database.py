"""Reading the index's source of truth: ready tracks' embeddings and the change log.

The vector index is derived data. It is rebuilt from the ``track_embeddings``
rows of one model whose track is ``ready``, and kept current by replaying the
append-only ``index_changes`` log after its watermark (the last change id it
applied).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.arrays import from_blob
from app.db.models import IndexChange, Track, TrackAutoTags, TrackEmbedding, TrackStatus
from app.index.errors import DimensionMismatchError
from app.index.metadata import TrackMetadata

__all__ = [
    "Replay",
    "TrackBatch",
    "changes_after",
    "latest_change_id",
    "plan_replay",
    "ready_tracks",
]


@dataclass(frozen=True)
class TrackBatch:
    """Tracks in packed form: ``vectors[offsets[i]:offsets[i+1]]`` is track ``i``."""

    track_ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (N, d) float32
    offsets: np.ndarray  # (n + 1,) int64
    metadata: list[TrackMetadata]

    def __len__(self) -> int:
        return len(self.track_ids)


def latest_change_id(session: Session, model_id: int) -> int:
    """The id of the newest logged change of ``model_id`` (0 when none)."""
    return int(
        session.scalar(select(func.max(IndexChange.id)).where(IndexChange.model_id == model_id))
        or 0
    )


def changes_after(session: Session, model_id: int, watermark: int) -> list[tuple[int, int, str]]:
    """(change id, track id, op) of ``model_id`` with id > ``watermark``, oldest first."""
    rows = session.execute(
        select(IndexChange.id, IndexChange.track_id, IndexChange.op)
        .where(IndexChange.model_id == model_id, IndexChange.id > watermark)
        .order_by(IndexChange.id)
    )
    return [(int(i), int(t), str(op)) for i, t, op in rows]


def _metadata(
    license_: str | None,
    artist: str | None,
    tags: list[str] | None,
    bpm: float | None,
    duration_s: float | None,
    auto_names: list[str] | None = None,
    auto_values: bytes | None = None,
) -> TrackMetadata:
    auto = ()
    if auto_names and auto_values is not None:
        values = from_blob(auto_values, len(auto_names))
        auto = tuple((str(n), float(v)) for n, v in zip(auto_names, values))
    return TrackMetadata(
        license=license_ or "",
        artist=artist or "",
        tags=tuple(str(t) for t in (tags or ())),
        bpm=bpm,
        duration_s=duration_s,
        auto_tags=auto,
    )


def ready_tracks(
    session: Session,
    model_id: int,
    *,
    track_ids: Iterable[int] | None = None,
    batch_size: int = 10_000,
) -> Iterator[TrackBatch]:
    """Embeddings and metadata of the ready tracks of ``model_id``, by ascending id.

    Streams in batches so a million-track rebuild never holds every row object
    at once. ``track_ids`` restricts the read to those tracks (log replay).
    """
    statement = (
        select(
            TrackEmbedding.track_id,
            TrackEmbedding.n_segments,
            TrackEmbedding.dim,
            TrackEmbedding.vectors,
            Track.license,
            Track.artist,
            Track.tags,
            Track.bpm,
            Track.duration_s,
            TrackAutoTags.names,
            TrackAutoTags.confidences,
        )
        .join(Track, Track.id == TrackEmbedding.track_id)
        .outerjoin(TrackAutoTags, TrackAutoTags.track_id == TrackEmbedding.track_id)
        .where(TrackEmbedding.model_id == model_id, Track.status == TrackStatus.ready)
        .order_by(TrackEmbedding.track_id)
    )
    if track_ids is not None:
        wanted = sorted({int(t) for t in track_ids})
        if not wanted:
            return
        for start in range(0, len(wanted), 1000):  # stay under bound-parameter limits
            chunk = wanted[start : start + 1000]
            yield from _batches(
                session, statement.where(TrackEmbedding.track_id.in_(chunk)), batch_size
            )
        return
    yield from _batches(session, statement, batch_size)


def _batches(session: Session, statement, batch_size: int) -> Iterator[TrackBatch]:
    result = session.execute(statement.execution_options(yield_per=batch_size))
    for rows in result.partitions(batch_size):
        ids, matrices, metadata = [], [], []
        for track_id, n_segments, dim, blob, *fields in rows:
            ids.append(int(track_id))
            matrices.append(from_blob(blob, (n_segments, dim)))
            metadata.append(_metadata(*fields))
        dims = {m.shape[1] for m in matrices}
        if len(dims) > 1:
            raise DimensionMismatchError(
                f"embeddings of one model have several dimensions: {sorted(dims)}"
            )
        lengths = np.fromiter((len(m) for m in matrices), np.int64, len(matrices))
        yield TrackBatch(
            np.array(ids, np.int64),
            np.concatenate(matrices),
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            metadata,
        )


@dataclass(frozen=True)
class Replay:
    """What applying the change log after a watermark does to an index."""

    removals: list[int]  # track ids to drop (absent ones are no-ops)
    batches: list[TrackBatch]  # tracks to (re)load, embeddings and metadata
    watermark: int  # the index's watermark once applied
    applied: int  # changes newer than the old watermark


def plan_replay(
    session: Session,
    model_id: int,
    watermark: int,
    present: Callable[[list[int]], set[int]],
    *,
    lookback: int = 256,
) -> Replay | None:
    """The changes of ``model_id`` after ``watermark``, as removals and tracks to load.

    The last operation logged for a track wins. New ``add`` changes (re)load the
    track's embeddings if it is still ready; ``remove`` changes drop it. The
    ``lookback`` changes just below the watermark are re-read too and only *ensure*
    their outcome: on PostgreSQL a transaction can commit a change id lower than one
    already seen, and this catches it without reloading tracks already in place
    (``present`` answers which of some track ids the index holds). None: no change.
    """
    changes = changes_after(session, model_id, max(0, watermark - lookback))
    if not changes:
        return None
    last_op: dict[int, tuple[int, str]] = {}
    for change_id, track_id, op in changes:
        last_op[track_id] = (change_id, op)
    removals = [t for t, (_, op) in last_op.items() if op == "remove"]
    old = [t for t, (change_id, op) in last_op.items() if op == "add" and change_id <= watermark]
    held = present(old) if old else set()
    additions = [
        t
        for t, (change_id, op) in last_op.items()
        if op == "add" and (change_id > watermark or t not in held)
    ]
    batches = list(ready_tracks(session, model_id, track_ids=additions))
    loaded = {int(t) for b in batches for t in b.track_ids}
    # An "add" whose track is gone or no longer ready means: not searchable.
    removals += [t for t in additions if t not in loaded]
    return Replay(
        removals=removals,
        batches=batches,
        watermark=max(watermark, changes[-1][0]),
        applied=sum(1 for change_id, _, _ in changes if change_id > watermark),
    )
