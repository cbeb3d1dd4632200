"""The catalog index of one model: what an API process searches.

:class:`CatalogIndex` holds, for the active model, the three structures of a
search, always in step with each other:

* a :class:`~app.index.centroids.CentroidIndex` (FAISS, the shortlist),
* a :class:`~app.index.segment_store.SegmentStore` (all segment embeddings,
  packed, for the rerank kernels),
* :class:`~app.index.metadata.MetadataColumns` (licence, artist, tags, tempo,
  duration, for filters),

and keeps them current from the database: rebuilt from the ready tracks'
embeddings, persisted as a snapshot with a watermark, and updated by replaying
the ``index_changes`` log after that watermark.

It is thread-safe: searches run concurrently (FAISS and Numba release the GIL),
mutations are exclusive, and a rebuild or load prepares the new state without
blocking searches, then swaps it in at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.db.models import Model
from app.index.backend import IndexBackend
from app.index.centroids import CentroidIndex, IvfParams
from app.index.database import latest_change_id, plan_replay, ready_tracks
from app.index.errors import (
    DimensionMismatchError,
    InvalidEmbeddingsError,
    SnapshotError,
    UnknownModelError,
)
from app.index.locking import ReadWriteLock
from app.index.metadata import MetadataColumns, SearchFilters, TrackMetadata
from app.index.search import Evidence, Hit, HubRadii, two_stage_search
from app.index.segment_store import SegmentStore, normalize_rows, validate_packed, validate_rows
from app.index.snapshot import read_snapshot, write_snapshot
from ml.ranking import PackedSegments

__all__ = ["CatalogIndex", "IndexOptions"]

# Rows normalised per step of a bulk add: bounds the float32 working copy.
_ROWS_PER_STEP = 262_144


@dataclass(frozen=True)
class IndexOptions:
    """How a catalog index is built (not what it holds).

    ``dtype`` is the storage of the segment embeddings (float16 halves the
    memory; measured in ``bench/bench_search.py``); the other fields are those of
    :class:`~app.index.centroids.CentroidIndex` and of the store's compaction.
    """

    dtype: str = "float32"
    exact_max: int = 100_000
    ivf: IvfParams | None = None
    device: str = "auto"
    compact_ratio: float = 0.25


@dataclass
class _State:
    dim: int
    model_id: int | None
    centroids: CentroidIndex
    store: SegmentStore
    metadata: MetadataColumns
    watermark: int = 0


def _empty_state(dim: int, model_id: int | None, options: IndexOptions) -> _State:
    return _State(
        dim=dim,
        model_id=model_id,
        centroids=CentroidIndex(
            dim, exact_max=options.exact_max, ivf=options.ivf, device=options.device
        ),
        store=SegmentStore(dim, options.dtype, compact_ratio=options.compact_ratio),
        metadata=MetadataColumns(),
    )


def _centroids(vectors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean segment embedding of each packed track (normalised later by the index)."""
    sums = np.add.reduceat(vectors, offsets[:-1], axis=0, dtype=np.float64)
    return (sums / np.diff(offsets)[:, None]).astype(np.float32)


def _append(
    state: _State,
    track_ids: np.ndarray,
    vectors: np.ndarray,
    offsets: np.ndarray,
    metadata: Sequence[TrackMetadata],
) -> np.ndarray:
    """Validate and append absent tracks to the store and metadata; returns centroids.

    The centroid index is updated by the caller, once per bulk operation, so
    that crossing the exact/IVF threshold trains the cells on the whole batch.
    """
    if vectors.ndim != 2 or vectors.shape[1] != state.dim:
        raise DimensionMismatchError(
            f"embeddings of shape {vectors.shape} for a catalog of dimension {state.dim}"
        )
    validate_packed(track_ids, offsets, len(vectors))
    if len(metadata) != len(track_ids):
        raise InvalidEmbeddingsError(
            f"{len(metadata)} metadata records for {len(track_ids)} tracks"
        )
    centroids = np.empty((len(track_ids), state.dim), np.float32)
    first = 0
    while first < len(track_ids):
        # Whole tracks, about _ROWS_PER_STEP rows at a time.
        last = int(np.searchsorted(offsets, offsets[first] + _ROWS_PER_STEP, side="right")) - 1
        last = min(max(last, first + 1), len(track_ids))
        rows = normalize_rows(vectors[offsets[first] : offsets[last]])
        local = offsets[first : last + 1] - offsets[first]
        state.store.add(track_ids[first:last], rows, local)
        state.metadata.append(metadata[first:last])
        centroids[first:last] = _centroids(rows, local)
        first = last
    return centroids


class CatalogIndex(IndexBackend):
    """Searchable catalog of one model in this process; see the module docstring.

    Parameters
    ----------
    dim
        Embedding dimension of the model.
    model_id
        The registry id of the model (needed to sync from the database).
    options
        Build options; keyword arguments override its fields.
    """

    def __init__(
        self,
        dim: int,
        *,
        model_id: int | None = None,
        options: IndexOptions | None = None,
        **overrides: Any,
    ) -> None:
        self.options = IndexOptions(**{**(options or IndexOptions()).__dict__, **overrides})
        self._state = _empty_state(int(dim), model_id, self.options)
        self._lock = ReadWriteLock()
        self._radii = HubRadii()  # cleared by every change of the tracks
        self._sync_lock = threading.Lock()  # one log replay at a time

    # -- state -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._state.dim

    @property
    def model_id(self) -> int | None:
        return self._state.model_id

    @property
    def watermark(self) -> int:
        """Id of the last ``index_changes`` row applied (0: none)."""
        return self._state.watermark

    def __len__(self) -> int:
        return len(self._state.store)

    def __contains__(self, track_id: int) -> bool:
        return track_id in self._state.store

    def track_ids(self) -> np.ndarray:
        """Sorted ids of every searchable track."""
        with self._lock.read():
            return np.sort(self._state.store.live_track_ids())

    def metadata(self, track_id: int) -> TrackMetadata:
        """The stored (normalised) metadata of a track; KeyError if absent."""
        with self._lock.read():
            slot = self._state.store.slot(track_id)
            if slot is None:
                raise KeyError(track_id)
            return self._state.metadata.record(slot)

    def stats(self) -> dict[str, Any]:
        """Sizes and memory, for /readyz, /metrics and capacity planning."""
        with self._lock.read():
            s = self._state
            memory = s.centroids.nbytes + s.store.nbytes + s.metadata.nbytes
            return {
                "model_id": s.model_id,
                "dim": s.dim,
                "tracks": len(s.store),
                "segments": s.store.n_rows,
                "dtype": str(s.store.dtype),
                "centroid_index": s.centroids.kind,
                "nlist": s.centroids.nlist,
                "nprobe": s.centroids.nprobe,
                "watermark": s.watermark,
                "memory_bytes": memory,
                "bytes_per_track": memory / max(len(s.store), 1),
            }

    # -- mutation ----------------------------------------------------------------------
    def add_tracks(
        self,
        track_ids: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        offsets: Sequence[int] | np.ndarray,
        metadata: Sequence[TrackMetadata] | None = None,
    ) -> None:
        """Add (or replace) many tracks given in packed form.

        Track ``i`` is ``vectors[offsets[i]:offsets[i+1]]``. Either every track
        is added or, on invalid input, none is.
        """
        track_ids = np.asarray(track_ids, np.int64)
        offsets = np.asarray(offsets, np.int64)
        vectors = np.asarray(vectors)
        metadata = list(metadata) if metadata is not None else [TrackMetadata()] * len(track_ids)
        # Validate before taking the lock, so bad input never half-applies.
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"embeddings of shape {vectors.shape} for a catalog of dimension {self.dim}"
            )
        validate_packed(track_ids, offsets, len(vectors))
        validate_rows(vectors)
        with self._lock.write():
            self._radii.clear()
            state = self._state
            present = [int(t) for t in track_ids if int(t) in state.store]
            if present:
                self._remove(state, np.array(present, np.int64))
            centroids = _append(state, track_ids, vectors, offsets, metadata)
            state.centroids.add(track_ids, centroids)

    def remove_tracks(self, track_ids: Iterable[int]) -> int:
        """Remove tracks; returns how many were present."""
        ids = np.fromiter((int(t) for t in track_ids), np.int64)
        with self._lock.write():
            self._radii.clear()
            return self._remove(self._state, ids)

    @staticmethod
    def _remove(state: _State, ids: np.ndarray) -> int:
        present = np.array([t for t in ids.tolist() if t in state.store], np.int64)
        for track_id in present.tolist():
            state.store.remove(track_id)
        state.centroids.remove(present)
        if state.store.needs_compaction:
            kept = state.store.compact()
            state.metadata = state.metadata.take(kept)
        return len(present)

    def compact(self) -> None:
        """Reclaim the rows of removed tracks now (otherwise done past a threshold)."""
        with self._lock.write():
            self._radii.clear()
            kept = self._state.store.compact()
            self._state.metadata = self._state.metadata.take(kept)

    # -- search ------------------------------------------------------------------------
    def search(
        self,
        query: np.ndarray,
        k: int = 10,
        method: str = "nw_dtw",
        shortlist: int = 1000,
        filters: SearchFilters | None = None,
        *,
        indel: float | None = None,
        with_alignment: bool = True,
        alignment_method: str | None = None,
        bank: PackedSegments | None = None,
        csls: bool = True,
        evidence: Sequence[Evidence] = (),
        prefer: tuple[str, ...] = (),
    ) -> list[Hit]:
        """Rank the catalog for a query's ``(Kq, d)`` segment embeddings.

        Two stages: the ``shortlist`` tracks with the closest centroids among
        those passing ``filters``, reranked by ``method`` (one of
        :data:`ml.ranking.METHODS`); the best ``k`` come back, with their
        alignment (by ``alignment_method``, default ``method``) when ``with_alignment``;
        with a ``bank`` of reference queries, a match
        score, and with ``csls`` the hubness correction; ``evidence`` is fused into
        the rerank, and ``prefer`` (automatic tag names) steers the shortlist. See
        :func:`app.index.search.two_stage_search` for the details and errors.
        """
        with self._lock.read():
            s = self._state
            return two_stage_search(
                query,
                centroids=s.centroids,
                store=s.store,
                metadata=s.metadata,
                k=k,
                method=method,
                shortlist=shortlist,
                filters=filters,
                indel=indel,
                with_alignment=with_alignment,
                alignment_method=alignment_method,
                bank=bank,
                csls=csls,
                radii=self._radii,
                evidence=evidence,
                prefer=prefer,
            )

    # -- snapshots ---------------------------------------------------------------------
    def snapshot(self, root: str | Path) -> Path:
        """Persist the index under ``root`` (see :mod:`app.index.snapshot`)."""
        with self._lock.read():
            s = self._state
            track_ids, vectors, offsets = s.store.live_arrays()
            metadata_arrays, vocabularies = s.metadata.take(
                np.flatnonzero(s.store.alive)
            ).to_arrays()
            blob = s.centroids.serialize()
            manifest = {
                "model_id": s.model_id,
                "dim": s.dim,
                "dtype": str(s.store.dtype),
                "watermark": s.watermark,
                "tracks": len(track_ids),
                "trained_on": s.centroids.trained_on,
                "vocabularies": vocabularies,
                "created_at": time.time(),
            }
        arrays = {
            "track_ids": track_ids,
            "vectors": vectors,
            "offsets": offsets,
            "centroid_index": blob,
            **{f"meta_{key}": value for key, value in metadata_arrays.items()},
        }
        return write_snapshot(root, manifest, arrays)

    @classmethod
    def load(
        cls, root: str | Path, *, options: IndexOptions | None = None, **overrides: Any
    ) -> CatalogIndex:
        """An index from the current snapshot under ``root``.

        Raises
        ------
        SnapshotError
            No snapshot, or one that is incomplete or inconsistent.
        """
        manifest, arrays = read_snapshot(root)
        try:
            dim = int(manifest["dim"])
            overrides.setdefault("dtype", manifest["dtype"])
            index = cls(dim, model_id=manifest["model_id"], options=options, **overrides)
            store = SegmentStore.from_packed(
                arrays["track_ids"],
                arrays["vectors"].astype(index.options.dtype, copy=False),
                arrays["offsets"],
                compact_ratio=index.options.compact_ratio,
            )
            metadata = MetadataColumns.from_arrays(
                {key[5:]: value for key, value in arrays.items() if key.startswith("meta_")},
                manifest["vocabularies"],
            )
            index._state.centroids.restore(arrays["centroid_index"], manifest["trained_on"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SnapshotError):
                raise
            raise SnapshotError(f"inconsistent snapshot in {root}: {exc}") from exc
        n = len(store)
        if not (len(metadata) == n == index._state.centroids.ntotal == manifest["tracks"]):
            raise SnapshotError(
                f"inconsistent snapshot in {root}: {n} tracks, "
                f"{len(metadata)} metadata rows, "
                f"{index._state.centroids.ntotal} centroids"
            )
        index._state.store, index._state.metadata = store, metadata
        index._state.watermark = int(manifest["watermark"])
        return index

    # -- database ----------------------------------------------------------------------
    @classmethod
    def from_db(
        cls,
        session: Session,
        model_id: int,
        *,
        options: IndexOptions | None = None,
        **overrides: Any,
    ) -> CatalogIndex:
        """An index of every ready track of ``model_id``."""
        model = session.get(Model, model_id)
        if model is None:
            raise UnknownModelError(f"no model with id {model_id}")
        index = cls(model.dim, model_id=model_id, options=options, **overrides)
        index.rebuild_from_db(session, model_id)
        return index

    def rebuild_from_db(self, session: Session, model_id: int) -> int:
        """Replace the whole content by the ready tracks of ``model_id``; returns their count.

        Searches keep being answered from the old content while the new one is
        built. The watermark is read *before* the rows, so a change committed
        during the read is replayed by the next :meth:`sync_from_db` (replay is
        idempotent).
        """
        model = session.get(Model, model_id)
        if model is None:
            raise UnknownModelError(f"no model with id {model_id}")
        watermark = latest_change_id(session, model_id)
        state = _empty_state(int(model.dim), model_id, self.options)
        all_ids, all_centroids = [], []
        for batch in ready_tracks(session, model_id):
            all_centroids.append(
                _append(state, batch.track_ids, batch.vectors, batch.offsets, batch.metadata)
            )
            all_ids.append(batch.track_ids)
        if all_ids:
            state.centroids.add(np.concatenate(all_ids), np.vstack(all_centroids))
        state.watermark = watermark
        with self._lock.write():
            self._radii.clear()
            self._state = state
        return len(state.store)

    def sync_from_db(self, session: Session, *, lookback: int = 256) -> int:
        """Replay the change log after the watermark; returns the changes applied.

        The last operation logged for a track wins. New ``add`` changes
        (re)load the track's embeddings if it is still ready; ``remove``
        changes drop it. The ``lookback`` changes just below the watermark are
        re-read too and only *ensure* their outcome (present or absent): on
        PostgreSQL a transaction can commit a change id lower than one already
        seen, and this catches it without reloading tracks already in place.
        """
        model_id = self._state.model_id
        if model_id is None:
            raise UnknownModelError(
                "this index is bound to no model: build it with from_db() or pass model_id"
            )
        with self._sync_lock:
            watermark = self._state.watermark

            def present(ids: list[int]) -> set[int]:
                with self._lock.read():
                    return {t for t in ids if t in self._state.store}

            replay = plan_replay(session, model_id, watermark, present, lookback=lookback)
            if replay is None:
                return 0
            with self._lock.write():
                self._radii.clear()
                state = self._state
                if state.model_id != model_id:  # swapped by a rebuild meanwhile
                    return 0
                self._remove(state, np.array(replay.removals, np.int64))
                for batch in replay.batches:
                    self._remove(state, batch.track_ids)
                    centroids = _append(
                        state, batch.track_ids, batch.vectors, batch.offsets, batch.metadata
                    )
                    state.centroids.add(batch.track_ids, centroids)
                state.watermark = replay.watermark
            return replay.applied

    def __repr__(self) -> str:
        s = self._state
        return (
            f"CatalogIndex(model_id={s.model_id}, dim={s.dim}, tracks={len(s.store)}, "
            f"centroids={s.centroids.kind}, watermark={s.watermark})"
        )
