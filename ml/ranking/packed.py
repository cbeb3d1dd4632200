"""Contiguous storage of the segment embeddings of many tracks.

A catalog is a ragged collection: track ``t`` has ``K_t`` segment embeddings of
dimension ``d``. :class:`PackedSegments` stores them the way the batched kernels
want to read them: one ``(N, d)`` array with all segments of all tracks back to
back, and ``offsets`` such that track ``t`` is ``vectors[offsets[t]:offsets[t + 1]]``.
Reading one candidate is then a single contiguous slice, and no Python object
per track is touched in the hot loop.

Storage may be float32 (exact) or float16 (half the memory; the kernels widen
each row to float32 before computing, so only the storage is rounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import (
    CandidateIndexError,
    DimensionMismatchError,
    EmptySequenceError,
    InvalidOffsetsError,
    NonFiniteEmbeddingError,
)

__all__ = ["STORAGE_DTYPES", "PackedSegments", "check_rows", "check_sequence"]

#: Dtypes accepted for the packed vectors.
STORAGE_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


@dataclass(frozen=True, eq=False)
class PackedSegments:
    """Segment embeddings of ``n_tracks`` tracks, stored contiguously.

    Parameters
    ----------
    vectors : np.ndarray, shape (N, d), float32 or float16
        All segment embeddings, track after track. Other float dtypes are
        converted to float32.
    offsets : np.ndarray, shape (n_tracks + 1,), integer
        ``offsets[0] == 0``, ``offsets[-1] == N`` and strictly increasing, so
        that every track has at least one segment.

    Attributes
    ----------
    sq_norms : np.ndarray, shape (N,), float32
        Squared L2 norm of every stored row (as stored, i.e. after any float16
        rounding). The kernels use ``|m - v|^2 = |m|^2 + |v|^2 - 2 m.v`` so that
        every squared distance comes from one dot product.

    Raises
    ------
    DimensionMismatchError
        ``vectors`` is not 2-D with ``d >= 1`` or ``offsets`` is not 1-D.
    InvalidOffsetsError
        ``offsets`` does not describe a partition of the rows into non-empty tracks.
    NonFiniteEmbeddingError
        ``vectors`` contains NaN or infinity (also after float16 rounding).
    """

    vectors: np.ndarray
    offsets: np.ndarray
    sq_norms: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vectors = np.asarray(self.vectors)
        if vectors.ndim != 2 or vectors.shape[1] < 1:
            raise DimensionMismatchError(
                f"vectors must have shape (N, d) with d >= 1, got {vectors.shape}"
            )
        if not np.issubdtype(vectors.dtype, np.floating):
            raise DimensionMismatchError(f"vectors must be floating point, got {vectors.dtype}")
        if vectors.dtype not in STORAGE_DTYPES:
            vectors = vectors.astype(np.float32)
        vectors = np.ascontiguousarray(vectors)
        if not np.isfinite(vectors).all():
            raise NonFiniteEmbeddingError("packed vectors contain NaN or infinity")

        offsets = np.asarray(self.offsets)
        if offsets.ndim != 1 or offsets.size < 1:
            raise InvalidOffsetsError(f"offsets must be 1-D and non-empty, got {offsets.shape}")
        if offsets.size and not np.issubdtype(offsets.dtype, np.integer):
            raise InvalidOffsetsError(f"offsets must be integers, got {offsets.dtype}")
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if offsets[0] != 0 or offsets[-1] != vectors.shape[0]:
            raise InvalidOffsetsError(
                f"offsets must start at 0 and end at N={vectors.shape[0]}, "
                f"got {offsets[0]}..{offsets[-1]}"
            )
        if np.any(np.diff(offsets) <= 0):
            raise InvalidOffsetsError("offsets must be strictly increasing (no empty track)")

        wide = vectors.astype(np.float64)
        sq_norms = np.einsum("nd,nd->n", wide, wide).astype(np.float32)
        for name, value in (("vectors", vectors), ("offsets", offsets), ("sq_norms", sq_norms)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_sequences(
        cls, sequences: Sequence[np.ndarray], dtype: np.dtype | type = np.float32
    ) -> PackedSegments:
        """Pack a list of ``(K_t, d)`` arrays (one per track, in track-id order).

        Raises
        ------
        EmptySequenceError
            The list is empty or one track has no segment.
        DimensionMismatchError
            A track is not 2-D or the tracks disagree on ``d``.
        """
        if len(sequences) == 0:
            raise EmptySequenceError("cannot pack an empty list of tracks")
        arrays = [np.asarray(s) for s in sequences]
        dims = {a.shape[1] if a.ndim == 2 else -1 for a in arrays}
        if len(dims) != 1 or -1 in dims:
            raise DimensionMismatchError(
                f"every track must be a (K, d) array with one common d, got dims {sorted(dims)}"
            )
        lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
        if np.any(lengths == 0):
            raise EmptySequenceError(f"track {int(np.argmin(lengths))} has no segment")
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return cls(_cast(np.concatenate(arrays), dtype), offsets)

    def astype(self, dtype: np.dtype | type) -> PackedSegments:
        """The same catalog stored as ``dtype`` (float32 or float16)."""
        return PackedSegments(_cast(self.vectors, dtype), self.offsets)

    def select(self, rows: np.ndarray | Sequence[int]) -> PackedSegments:
        """A new packed catalog holding only the tracks ``rows``, in that order."""
        rows = check_rows(rows, self.n_tracks)
        if rows.size == 0:
            raise EmptySequenceError("cannot select zero tracks")
        starts, stops = self.offsets[rows], self.offsets[rows + 1]
        index = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])
        return PackedSegments(self.vectors[index], np.concatenate([[0], np.cumsum(stops - starts)]))

    # ------------------------------------------------------------------ views
    @property
    def n_tracks(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        """Number of segments of every track, shape (n_tracks,)."""
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        """Memory held by the vectors, offsets and norms."""
        return int(self.vectors.nbytes + self.offsets.nbytes + self.sq_norms.nbytes)

    def track(self, row: int) -> np.ndarray:
        """The ``(K, d)`` embeddings of track ``row`` (a read-only view)."""
        if not 0 <= row < self.n_tracks:
            raise CandidateIndexError(f"track {row} out of range 0..{self.n_tracks - 1}")
        return self.vectors[self.offsets[row] : self.offsets[row + 1]]

    def kernel_vectors(self) -> np.ndarray:
        """The vectors as the kernels read them: float32, or float16 bits as uint16.

        Numba has no CPU float16 type, so half-precision storage travels as its
        raw bit patterns and is widened inside the kernel.
        """
        if self.vectors.dtype == np.float16:
            return self.vectors.view(np.uint16)
        return self.vectors

    def __len__(self) -> int:
        return self.n_tracks


def _storage_dtype(dtype: np.dtype | type) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in STORAGE_DTYPES:
        raise DimensionMismatchError(f"storage dtype must be float32 or float16, got {dtype}")
    return dtype


def _cast(vectors: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    # Values beyond float16's range become inf, which the constructor then rejects
    # with a NonFiniteEmbeddingError; numpy's overflow warning would only be noise.
    with np.errstate(over="ignore"):
        return vectors.astype(_storage_dtype(dtype))


def check_rows(rows: np.ndarray | Sequence[int], n_tracks: int) -> np.ndarray:
    """Validate candidate track ids and return them as a contiguous int64 array.

    Raises
    ------
    CandidateIndexError
        ``rows`` is not a 1-D integer array or an id is outside ``0..n_tracks-1``.
    """
    rows = np.asarray(rows)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise CandidateIndexError(
            f"rows must be a 1-D integer array, got {rows.dtype} {rows.shape}"
        )
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    low, high = int(rows.min()), int(rows.max())
    if low < 0 or high >= n_tracks:
        bad = low if low < 0 else high
        raise CandidateIndexError(f"candidate id {bad} out of range 0..{n_tracks - 1}")
    return rows


def check_sequence(x: np.ndarray, name: str, dim: int | None = None) -> np.ndarray:
    """Validate one ``(K, d)`` sequence of embeddings; return it as C-contiguous float32.

    Raises
    ------
    DimensionMismatchError
        Not 2-D, not floating point, or ``d != dim``.
    EmptySequenceError
        ``K == 0``.
    NonFiniteEmbeddingError
        NaN or infinity.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise DimensionMismatchError(f"{name} must have shape (K, d), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise DimensionMismatchError(f"{name} must be floating point, got {x.dtype}")
    if x.shape[0] == 0:
        raise EmptySequenceError(f"{name} has no segment")
    if dim is not None and x.shape[1] != dim:
        raise DimensionMismatchError(f"{name} has dimension {x.shape[1]}, expected {dim}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise NonFiniteEmbeddingError(f"{name} contains NaN or infinity")
    return x
