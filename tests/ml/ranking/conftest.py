"""Fixtures for the ranking tests: constructed catalogs with known answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ml.ranking import PackedSegments


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """``n`` random unit vectors of dimension ``dim`` (float32)."""
    x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def perturb(rng: np.random.Generator, x: np.ndarray, noise: float) -> np.ndarray:
    """``x`` plus isotropic noise, renormalised: the other modality of the same segment."""
    y = x + noise * rng.standard_normal(x.shape) / np.sqrt(x.shape[1])
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Catalog:
    packed: PackedSegments
    query: np.ndarray
    target: int  # the track the query was made from


@pytest.fixture(scope="session")
def clustered_catalog() -> Catalog:
    """60 tracks whose segments scatter around a per-track direction; the query is track 17.

    Segments of one track resemble each other (as the functional parts of one
    song do), so even complete linkage, the max over all pairs, prefers the
    track equal to the query.
    """
    rng = np.random.default_rng(7)
    dim, tracks = 32, []
    for _ in range(60):
        centre = unit_rows(rng, 1, dim)
        tracks.append(perturb(rng, np.repeat(centre, rng.integers(3, 12), axis=0), 0.6))
    return Catalog(PackedSegments.from_sequences(tracks), tracks[17].copy(), 17)


@pytest.fixture(scope="session")
def stretch_catalog() -> Catalog:
    """Stretch scenario: the true target has every segment repeated twice.

    The query is the target's segments seen through noise. The 40 distractors
    are as long as the query and share two to three segments with it *at the
    same positions* (a partial, positional resemblance), the rest random. Trace
    compares position with position, so the stretched target (one positional
    match) loses to distractors; NW-DTW skips the repeats at the price of the
    gap penalty and finds the target.
    """
    rng = np.random.default_rng(11)
    dim, n_query = 48, 8
    target = unit_rows(rng, n_query, dim)
    query = perturb(rng, target, 0.3)
    tracks = [np.repeat(target, 2, axis=0)]
    for _ in range(40):
        distractor = unit_rows(rng, n_query, dim)
        shared = rng.choice(n_query, size=rng.integers(2, 4), replace=False)
        distractor[shared] = perturb(rng, target[shared], 0.8)
        tracks.append(distractor)
    return Catalog(PackedSegments.from_sequences(tracks), query, 0)


@pytest.fixture(scope="session")
def crop_catalog() -> Catalog:
    """Crop scenario: the query is the true target without its first two segments.

    Distractors share a few positional segments with the (cropped) query, so
    trace, which compares query segment i with track segment i, prefers them;
    best trace slides the query by two segments and finds the target.
    """
    rng = np.random.default_rng(13)
    dim, n_target = 48, 10
    target = unit_rows(rng, n_target, dim)
    query = perturb(rng, target[2:], 0.3)
    tracks = [target]
    for _ in range(40):
        distractor = unit_rows(rng, n_target, dim)
        shared = rng.choice(n_target - 2, size=rng.integers(2, 4), replace=False)
        distractor[shared] = perturb(rng, target[2:][shared], 0.8)
        tracks.append(distractor)
    return Catalog(PackedSegments.from_sequences(tracks), query, 0)
