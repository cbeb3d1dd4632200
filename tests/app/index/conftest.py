"""Shared fixtures of the catalog-index tests: small synthetic clustered catalogs."""

from __future__ import annotations

import numpy as np
import pytest

from bench.synthetic_catalog import SyntheticCatalog, clustered_catalog, make_query


@pytest.fixture(scope="session")
def small_catalog() -> SyntheticCatalog:
    """400 tracks of 3..9 segments, d = 16: small enough for plain-Python references."""
    return clustered_catalog(400, 16, segments=(3, 9), n_clusters=8, seed=11)


@pytest.fixture(scope="session")
def clustered() -> SyntheticCatalog:
    """6,000 tracks, d = 32, in 30 clusters: enough for IVF to be approximate."""
    return clustered_catalog(6000, 32, segments=(6, 20), n_clusters=30, seed=12)


@pytest.fixture(scope="session")
def queries(small_catalog: SyntheticCatalog) -> list[np.ndarray]:
    return [make_query(small_catalog, i, n_segments=5, seed=i) for i in range(0, 400, 40)]


def _centroids_of(catalog: SyntheticCatalog) -> np.ndarray:
    rows = catalog.vectors.astype(np.float64)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    sums = np.add.reduceat(rows, catalog.offsets[:-1], axis=0)
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="session")
def centroids_of():
    """Normalised mean of each track's unit segments (what the index stores)."""
    return _centroids_of
