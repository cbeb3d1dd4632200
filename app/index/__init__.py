"""The serving-side catalog vector index.

One :class:`CatalogIndex` per API process holds the active model's catalog:
a FAISS index of track centroids for the shortlist (:mod:`.centroids`), all
segment embeddings packed for the Numba rerank (:mod:`.segment_store`),
metadata columns for filters (:mod:`.metadata`), two-stage search
(:mod:`.search`), crash-safe snapshots (:mod:`.snapshot`) and the database
rebuild and change-log replay (:mod:`.database`)::

    with session_scope(url) as session:
        index = CatalogIndex.from_db(session, model_id)
    hits = index.search(query_embeddings, k=10, method="nw_dtw", shortlist=1000,
                        filters=SearchFilters(licenses={"cc-by"}, bpm_min=90, bpm_max=130))
"""

from app.index.catalog import CatalogIndex, IndexOptions
from app.index.centroids import CentroidIndex, IvfParams, gpu_available
from app.index.errors import (
    CatalogIndexError,
    DeviceUnavailableError,
    DimensionMismatchError,
    InvalidEmbeddingsError,
    InvalidFilterError,
    InvalidSearchError,
    SnapshotError,
    UnknownModelError,
)
from app.index.metadata import SearchFilters, TrackMetadata
from app.index.search import Hit
from app.index.segment_store import SegmentStore

__all__ = [
    "CatalogIndex",
    "CatalogIndexError",
    "CentroidIndex",
    "DeviceUnavailableError",
    "DimensionMismatchError",
    "Hit",
    "IndexOptions",
    "InvalidEmbeddingsError",
    "InvalidFilterError",
    "InvalidSearchError",
    "IvfParams",
    "SearchFilters",
    "SegmentStore",
    "SnapshotError",
    "TrackMetadata",
    "UnknownModelError",
    "gpu_available",
]
