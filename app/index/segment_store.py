"""All segment embeddings of the catalog in one packed array, for reranking.

The ranking kernels (:mod:`ml.ranking`) want one contiguous ``(N, d)`` matrix
holding every segment of every track, with ``offsets`` such that track slot ``s``
owns rows ``offsets[s]:offsets[s+1]``. This store keeps exactly that layout while
tracks come and go:

* **add** appends rows (amortised O(1): the buffer grows geometrically);
* **remove** tombstones the slot: its rows stay in place, so slots and offsets of
  other tracks never move and a concurrent reader's row ids stay valid;
* **compact** rewrites the arrays without the dead slots once they waste more
  than ``compact_ratio`` of the rows, and returns the kept slots so that the
  columns kept beside the store (metadata) can be compacted the same way.

Rows are stored L2-normalised (the costs are defined on the unit sphere), in
float32 or, to halve the memory of a large catalog, float16.
"""

from __future__ import annotations

import numpy as np

from app.index.errors import DimensionMismatchError, InvalidEmbeddingsError
from ml.ranking import PackedSegments

__all__ = ["SegmentStore", "normalize_rows", "validate_packed", "validate_rows"]


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy of a 2-D array of embeddings.

    Raises
    ------
    InvalidEmbeddingsError
        The array is not 2-D, is empty, or has a non-finite or all-zero row.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise InvalidEmbeddingsError(
            f"expected a non-empty (K, d) array, got shape {vectors.shape}"
        )
    vectors = vectors.astype(np.float32, copy=True)
    if not np.isfinite(vectors).all():
        raise InvalidEmbeddingsError("embeddings contain NaN or infinity")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InvalidEmbeddingsError("an embedding row is all zeros: it has no direction")
    vectors /= norms
    return vectors


def validate_rows(vectors: np.ndarray, chunk: int = 65536) -> None:
    """Raise :class:`InvalidEmbeddingsError` on a non-finite or all-zero row.

    Chunked: a bulk load is checked without a full-size temporary.
    """
    for start in range(0, len(vectors), chunk):
        rows = np.asarray(vectors[start : start + chunk], dtype=np.float32)
        if not np.isfinite(rows).all():
            raise InvalidEmbeddingsError("embeddings contain NaN or infinity")
        if not np.einsum("nd,nd->n", rows, rows).all():
            raise InvalidEmbeddingsError("an embedding row is all zeros: it has no direction")


def validate_packed(track_ids: np.ndarray, offsets: np.ndarray, n_rows: int) -> None:
    """Check that ``offsets`` cut ``n_rows`` rows into one non-empty run per track id."""
    if track_ids.ndim != 1 or offsets.shape != (len(track_ids) + 1,):
        raise InvalidEmbeddingsError(
            f"{len(track_ids)} track ids need {len(track_ids) + 1} "
            f"offsets, got shape {offsets.shape}"
        )
    if offsets[0] != 0 or offsets[-1] != n_rows or (np.diff(offsets) <= 0).any():
        raise InvalidEmbeddingsError(
            "offsets must rise strictly from 0 to the number of rows:"
            " every track needs at least one segment"
        )
    if len(np.unique(track_ids)) != len(track_ids):
        raise InvalidEmbeddingsError("a track id appears twice in one batch")


class SegmentStore:
    """Packed, growable, tombstoned segment matrix of a catalog.

    Parameters
    ----------
    dim
        Embedding dimension.
    dtype
        Storage type, ``float32`` or ``float16``.
    compact_ratio
        Share of dead rows above which :attr:`needs_compaction` becomes true.
    """

    def __init__(
        self, dim: int, dtype: str | np.dtype = np.float32, compact_ratio: float = 0.25
    ) -> None:
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
            raise ValueError(f"storage dtype must be float32 or float16, got {dtype}")
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = int(dim)
        self.dtype = dtype
        self.compact_ratio = float(compact_ratio)
        self._vectors = np.empty((0, dim), dtype)
        self._sq_norms = np.empty(0, np.float32)
        self._offsets = np.zeros(1, np.int64)
        self._track_ids = np.empty(0, np.int64)
        self._alive = np.empty(0, bool)
        self._n_rows = 0
        self._n_slots = 0
        self._dead_rows = 0
        self._slot_of: dict[int, int] = {}

    @classmethod
    def from_packed(
        cls,
        track_ids: np.ndarray,
        vectors: np.ndarray,
        offsets: np.ndarray,
        *,
        compact_ratio: float = 0.25,
    ) -> SegmentStore:
        """A store adopting already-normalised packed arrays (no copy when possible).

        Used to load a snapshot: the rows were normalised when first added.
        """
        store = cls(vectors.shape[1], vectors.dtype, compact_ratio=compact_ratio)
        track_ids = np.ascontiguousarray(track_ids, np.int64)
        offsets = np.ascontiguousarray(offsets, np.int64)
        validate_packed(track_ids, offsets, len(vectors))
        store._vectors = np.ascontiguousarray(vectors)
        store._sq_norms = _sq_norms(store._vectors)
        if not np.isfinite(store._sq_norms).all():  # a NaN or inf anywhere in a row shows here
            raise InvalidEmbeddingsError("embeddings contain NaN or infinity")
        store._offsets = offsets.copy()
        store._track_ids = track_ids.copy()
        store._alive = np.ones(len(track_ids), bool)
        store._n_rows, store._n_slots = len(vectors), len(track_ids)
        store._slot_of = dict(zip(track_ids.tolist(), range(len(track_ids))))
        return store

    # -- sizes -------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of live tracks."""
        return len(self._slot_of)

    def __contains__(self, track_id: int) -> bool:
        return int(track_id) in self._slot_of

    @property
    def n_slots(self) -> int:
        return self._n_slots

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def nbytes(self) -> int:
        """Bytes held for the used part (rows, offsets, ids, flags, id map)."""
        per_slot = 8 + 8 + 1 + 100  # offset, id, alive flag, dict entry (approximate)
        per_row = self.dim * self.dtype.itemsize + 4  # the row and its squared norm
        return self._n_rows * per_row + self._n_slots * per_slot

    @property
    def needs_compaction(self) -> bool:
        return self._n_rows > 0 and self._dead_rows > self.compact_ratio * self._n_rows

    # -- views used by the rankers -----------------------------------------------------
    @property
    def vectors(self) -> np.ndarray:
        """(n_rows, dim) packed rows of every slot, dead ones included."""
        return self._vectors[: self._n_rows]

    @property
    def sq_norms(self) -> np.ndarray:
        """(n_rows,) squared norms of the rows as stored (after float16 rounding)."""
        return self._sq_norms[: self._n_rows]

    @property
    def offsets(self) -> np.ndarray:
        """(n_slots + 1,) row offsets per slot."""
        return self._offsets[: self._n_slots + 1]

    @property
    def track_ids(self) -> np.ndarray:
        """(n_slots,) track id of each slot (dead slots keep their old id)."""
        return self._track_ids[: self._n_slots]

    @property
    def alive(self) -> np.ndarray:
        """(n_slots,) whether each slot holds a live track."""
        return self._alive[: self._n_slots]

    def slot(self, track_id: int) -> int | None:
        return self._slot_of.get(int(track_id))

    def slots(self, track_ids: np.ndarray) -> np.ndarray:
        """Slots of live track ids (KeyError for an id not in the store)."""
        slot_of = self._slot_of
        return np.fromiter((slot_of[int(t)] for t in track_ids), np.int64, len(track_ids))

    def packed(self) -> PackedSegments:
        """The store as :class:`ml.ranking.PackedSegments`; row ``s`` = slot ``s``.

        O(1): the arrays are shared, not copied. ``PackedSegments(...)`` would
        re-validate every row and recompute every norm in float64 (O(N) time and
        a temporary of 8 bytes per value: gigabytes at a million tracks), although
        each row was validated when it was added and its norm is kept here. Dead
        slots are in the view too; the caller ranks live slots only.
        """
        view = object.__new__(PackedSegments)
        for name, value in (
            ("vectors", self.vectors),
            ("offsets", self.offsets),
            ("sq_norms", self.sq_norms),
        ):
            value = value.view()
            value.setflags(write=False)
            object.__setattr__(view, name, value)
        return view

    def segments(self, track_id: int) -> np.ndarray:
        """(K, dim) segment embeddings of one live track, as stored."""
        slot = self._slot_of[int(track_id)]
        return self._vectors[self._offsets[slot] : self._offsets[slot + 1]]

    def live_track_ids(self) -> np.ndarray:
        """Live track ids in slot order."""
        return self.track_ids[self.alive].copy()

    # -- mutation ----------------------------------------------------------------------
    def add(self, track_ids: np.ndarray, vectors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Append tracks given in packed form; returns their slots.

        ``vectors`` must already be validated and normalised (see
        :func:`normalize_rows`); ids must not be live in the store.
        """
        track_ids = np.asarray(track_ids, np.int64)
        offsets = np.asarray(offsets, np.int64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"embeddings of dimension {vectors.shape[-1]} for a store of dimension {self.dim}"
            )
        validate_packed(track_ids, offsets, len(vectors))
        present = [int(t) for t in track_ids if int(t) in self._slot_of]
        if present:
            raise InvalidEmbeddingsError(f"tracks already in the store: {present[:5]}")
        n_new, rows_new = len(track_ids), len(vectors)
        self._reserve(self._n_slots + n_new, self._n_rows + rows_new)
        stored = self._vectors[self._n_rows : self._n_rows + rows_new]
        stored[:] = vectors
        self._sq_norms[self._n_rows : self._n_rows + rows_new] = _sq_norms(stored)
        self._offsets[self._n_slots + 1 : self._n_slots + n_new + 1] = self._n_rows + offsets[1:]
        slots = np.arange(self._n_slots, self._n_slots + n_new, dtype=np.int64)
        self._track_ids[slots] = track_ids
        self._alive[slots] = True
        self._slot_of.update(zip(track_ids.tolist(), slots.tolist()))
        self._n_slots += n_new
        self._n_rows += rows_new
        return slots

    def remove(self, track_id: int) -> int | None:
        """Tombstone a track; returns its former slot, or None if it was absent."""
        slot = self._slot_of.pop(int(track_id), None)
        if slot is not None:
            self._alive[slot] = False
            self._dead_rows += int(self._offsets[slot + 1] - self._offsets[slot])
        return slot

    def compact(self) -> np.ndarray:
        """Drop dead slots; returns the old slot of each new slot (live, in order)."""
        kept = np.flatnonzero(self.alive)
        lengths = np.diff(self.offsets)[kept]
        rows = _ranges(self.offsets[kept], lengths)
        self._vectors = self._vectors[rows]  # fancy indexing copies: exact-size arrays
        self._sq_norms = self._sq_norms[rows]
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._track_ids = self._track_ids[kept]
        self._alive = np.ones(len(kept), bool)
        self._n_slots, self._n_rows, self._dead_rows = len(kept), len(rows), 0
        self._slot_of = dict(zip(self._track_ids.tolist(), range(len(kept))))
        return kept

    def _reserve(self, n_slots: int, n_rows: int) -> None:
        if n_rows > len(self._vectors):
            grown = np.empty((max(n_rows, len(self._vectors) * 3 // 2, 64), self.dim), self.dtype)
            grown[: self._n_rows] = self._vectors[: self._n_rows]
            self._vectors = grown
            self._sq_norms = _grow(self._sq_norms[: self._n_rows], len(grown))
        if n_slots > len(self._track_ids):
            capacity = max(n_slots, len(self._track_ids) * 3 // 2, 16)
            self._offsets = _grow(self._offsets, capacity + 1)
            self._track_ids = _grow(self._track_ids, capacity)
            self._alive = _grow(self._alive, capacity)

    # -- persistence -------------------------------------------------------------------
    def live_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(track_ids, vectors, offsets) of the live tracks only, in slot order."""
        kept = np.flatnonzero(self.alive)
        lengths = np.diff(self.offsets)[kept]
        rows = _ranges(self.offsets[kept], lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return self.track_ids[kept].copy(), self.vectors[rows], offsets


def _sq_norms(rows: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Squared row norms, accumulated in float64 as ml.ranking.PackedSegments does.

    Chunked so that a bulk load never holds a float64 copy of the whole catalog.
    """
    out = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), chunk):
        wide = rows[start : start + chunk].astype(np.float64)
        out[start : start + chunk] = np.einsum("nd,nd->n", wide, wide)
    return out


def _grow(array: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros(capacity, array.dtype)
    grown[: len(array)] = array
    return grown


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    run_starts = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return run_starts + np.arange(total, dtype=np.int64)
