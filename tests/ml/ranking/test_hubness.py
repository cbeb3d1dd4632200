"""Hubness measures and the CSLS correction (ml.ranking.hubness)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.ranking import batch_distances
from ml.ranking.hubness import (
    bank_percentile,
    csls_distances,
    hub_radius,
    hubness_skewness,
    k_occurrence,
    top1_share_ratio,
)
from ml.ranking.packed import PackedSegments


def test_k_occurrence_counts_top_k_places() -> None:
    d = np.array([[0.1, 0.2, 0.3], [0.3, 0.1, 0.2], [0.1, 0.3, 0.2]])
    assert k_occurrence(d, 1).tolist() == [2, 1, 0]
    assert k_occurrence(d, 2).tolist() == [2, 2, 2]
    assert k_occurrence(d, 3).sum() == 9


def test_a_fair_retrieval_has_no_skew_and_a_hub_has_a_large_one() -> None:
    fair = np.eye(10)[::-1] * -1.0 + 1.0  # query i's nearest track is 9 - i
    assert hubness_skewness(k_occurrence(fair, 1)) == 0.0
    assert top1_share_ratio(fair) == 1.0
    hub = np.ones((10, 10))
    hub[:, 3] = 0.0  # track 3 is nearest to every query
    assert hubness_skewness(k_occurrence(hub, 1)) > 2.5
    assert top1_share_ratio(hub) == 10.0


def test_hub_radius_is_the_mean_of_the_k_nearest_bank_distances() -> None:
    bank = np.array([[1.0, 5.0], [2.0, 4.0], [9.0, 3.0]])
    np.testing.assert_allclose(hub_radius(bank, k=2), [1.5, 3.5])
    np.testing.assert_allclose(hub_radius(bank, k=10), bank.mean(axis=0))
    with pytest.raises(ValueError):
        hub_radius(bank, k=0)
    with pytest.raises(ValueError):
        hub_radius(np.array([[np.nan]]))


def test_csls_demotes_a_track_that_is_near_every_query() -> None:
    # Sequences of unit vectors; the hub is a track whose single segment sits at the
    # centre of all queries, the answers are tracks that match one query each.
    rng = np.random.default_rng(0)
    dim, n = 32, 30

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    answers = unit(rng.normal(size=(n, dim)))
    common = unit(rng.normal(size=dim))  # what every video shares, whatever its music
    queries = unit(0.6 * answers + 0.8 * common + 0.1 * rng.normal(size=(n, dim)))
    hub = common
    tracks = [a[None, :] for a in answers] + [hub[None, :]]
    packed = PackedSegments.from_sequences([t.astype(np.float32) for t in tracks])
    bank_q = unit(0.6 * unit(rng.normal(size=(200, dim))) + 0.8 * common)

    def distances(qs: np.ndarray) -> np.ndarray:
        rows = np.arange(packed.n_tracks)
        return np.stack(
            [batch_distances(q[None, :].astype(np.float32), packed, rows, "centroid") for q in qs]
        )

    raw = distances(queries)
    radius = hub_radius(distances(bank_q), k=10)
    corrected = csls_distances(raw, radius)
    assert k_occurrence(raw, 1)[n] == n  # the hub comes first for every query
    assert k_occurrence(corrected, 1)[n] <= n // 10
    assert (corrected.argmin(axis=1) == np.arange(n)).mean() >= 0.8  # it was 0 before


def test_csls_of_one_query_and_shape_checks() -> None:
    np.testing.assert_allclose(
        csls_distances(np.array([1.0, 2.0]), np.array([0.0, 2.0])), [1.0, 1.0]
    )
    with pytest.raises(ValueError):
        csls_distances(np.zeros(3), np.zeros(2))


def test_bank_percentile_places_a_distance_among_the_bank_s() -> None:
    bank = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    np.testing.assert_allclose(bank_percentile(np.array([0.5, 45.0]), bank), [100.0, 0.0])
    np.testing.assert_allclose(bank_percentile(np.array([2.5, 20.0]), bank), [50.0, 62.5])
    with pytest.raises(ValueError):
        bank_percentile(np.zeros(3), bank)
