"""Errors raised by the catalog vector index.

Every error is a :class:`CatalogIndexError`, itself a :class:`ValueError`: the
request or the data handed to the index is wrong, not the program. Each subclass
carries a short machine-readable ``reason`` so that the HTTP layer can map it to
a status code without parsing messages::

    try:
        hits = catalog.search(query, k=10, method="trace")
    except CatalogIndexError as err:
        return JSONResponse({"error": err.reason, "detail": str(err)}, status_code=422)
"""

from __future__ import annotations

__all__ = [
    "CatalogIndexError",
    "DeviceUnavailableError",
    "DimensionMismatchError",
    "InvalidEmbeddingsError",
    "InvalidFilterError",
    "InvalidSearchError",
    "SnapshotError",
    "UnknownModelError",
]


class CatalogIndexError(ValueError):
    """Base class: a request or data the catalog index cannot accept."""

    reason: str = "catalog_index_error"


class InvalidEmbeddingsError(CatalogIndexError):
    """Segment embeddings are not a non-empty 2-D array of finite, non-zero rows."""

    reason = "invalid_embeddings"


class DimensionMismatchError(CatalogIndexError):
    """Embeddings do not have the dimension of the index (another model's vectors)."""

    reason = "dimension_mismatch"


class InvalidSearchError(CatalogIndexError):
    """A search parameter is out of range: ``k``, ``shortlist`` or an unknown method."""

    reason = "invalid_search"


class InvalidFilterError(CatalogIndexError):
    """A metadata filter is contradictory or out of range (e.g. bpm_min > bpm_max)."""

    reason = "invalid_filter"


class SnapshotError(CatalogIndexError):
    """A snapshot directory is missing, incomplete, corrupt or of another format."""

    reason = "bad_snapshot"


class UnknownModelError(CatalogIndexError):
    """No model with that id in the registry, or the index is bound to no model."""

    reason = "unknown_model"


class DeviceUnavailableError(CatalogIndexError):
    """``device="cuda"`` was requested but no GPU build of FAISS sees a GPU."""

    reason = "device_unavailable"
