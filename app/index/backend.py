"""The index interface: what every catalog index backend offers the services.

Two backends implement it:

* :class:`app.index.catalog.CatalogIndex` (the default): the whole catalog in the
  process, FAISS centroids plus the packed segments, persisted as snapshots and kept
  current by each process replaying the database's change log;
* :class:`app.index.milvus.MilvusCatalogIndex`: the catalog in a Milvus collection
  (Milvus Lite in a local file, or a Milvus server or cluster), shared by every API
  replica; the change log is applied to it once, by whichever process gets there first.

Both search the same way (a centroid shortlist among the tracks passing the filters,
then :func:`app.index.search.rerank_shortlist`), so their answers agree up to the
shortlist's approximation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.index.errors import InvalidEmbeddingsError
from app.index.metadata import SearchFilters, TrackMetadata
from app.index.search import Evidence, Hit
from ml.ranking import PackedSegments

__all__ = ["IndexBackend"]


class IndexBackend(ABC):
    """A searchable catalog of one model's track embeddings (see the module docstring).

    Mutations are idempotent: adding a track id that is present replaces it, removing
    an absent one does nothing.
    """

    # -- state -------------------------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding dimension of the model."""

    @property
    @abstractmethod
    def model_id(self) -> int | None:
        """Registry id of the model (None: not bound to the database)."""

    @property
    @abstractmethod
    def watermark(self) -> int:
        """Id of the last ``index_changes`` row applied (0: none)."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of searchable tracks."""

    @abstractmethod
    def __contains__(self, track_id: int) -> bool: ...

    @abstractmethod
    def track_ids(self) -> np.ndarray:
        """Sorted ``(n,)`` int64 ids of every searchable track."""

    @abstractmethod
    def metadata(self, track_id: int) -> TrackMetadata:
        """The stored (normalised) metadata of a track; KeyError if absent."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Sizes and settings, for /readyz, /metrics and capacity planning."""

    # -- mutation ----------------------------------------------------------------------
    def add_track(
        self, track_id: int, embeddings: np.ndarray, metadata: TrackMetadata | None = None
    ) -> None:
        """Add (or replace) one track from its ``(K, d)`` segment embeddings."""
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise InvalidEmbeddingsError(
                f"expected (K, d) segment embeddings with K >= 1, got shape {embeddings.shape}"
            )
        self.add_tracks([track_id], embeddings, [0, len(embeddings)], [metadata or TrackMetadata()])

    @abstractmethod
    def add_tracks(
        self,
        track_ids: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        offsets: Sequence[int] | np.ndarray,
        metadata: Sequence[TrackMetadata] | None = None,
    ) -> None:
        """Add (or replace) many tracks in packed form: track ``i`` is
        ``vectors[offsets[i]:offsets[i+1]]``. Invalid input changes nothing."""

    def remove_track(self, track_id: int) -> bool:
        """Remove a track; returns whether it was present."""
        return self.remove_tracks([track_id]) == 1

    @abstractmethod
    def remove_tracks(self, track_ids: Iterable[int]) -> int:
        """Remove tracks; returns how many were present."""

    # -- search ------------------------------------------------------------------------
    @abstractmethod
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
        """Rank the catalog for a query's ``(Kq, d)`` segment embeddings; the arguments
        are those of :func:`app.index.search.two_stage_search`."""

    # -- persistence and the database --------------------------------------------------
    @abstractmethod
    def snapshot(self, root: str | Path) -> Path | None:
        """Make the current content durable; returns the snapshot written under ``root``,
        or None for a backend that persists every change itself."""

    @abstractmethod
    def rebuild_from_db(self, session: Session, model_id: int) -> int:
        """Replace the whole content by the ready tracks of ``model_id`` (searches keep
        being answered meanwhile); returns their count."""

    @abstractmethod
    def sync_from_db(self, session: Session, *, lookback: int = 256) -> int:
        """Apply the change log after the watermark; returns the changes applied."""
