"""Fusing a learned distance with evidence (ml.ranking.fusion)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.ranking.fusion import fuse_evidence, standardise_rows


def test_weight_zero_is_the_learned_ranking_unchanged():
    d = np.array([[3.0, 1.0, 2.0]])
    s = np.array([[1.0, 0.0, np.nan]])
    assert fuse_evidence(d, s, 0.0) is not None
    np.testing.assert_array_equal(fuse_evidence(d, s, 0.0), d)


def test_evidence_reorders_in_proportion_to_its_weight():
    d = np.array([[1.0, 2.0, 5.0]])
    s = np.array([[0.2, 0.9, 0.5]])
    assert np.argmin(fuse_evidence(d, s, 0.1)) == 0
    assert np.argmin(fuse_evidence(d, s, 2.0)) == 1


def test_evidence_below_the_mean_never_demotes():
    d = np.array([[1.0, 2.0, 3.0, 4.0]])
    s = np.array([[0.0, 0.1, 0.2, 5.0]])  # the first three below the mean
    fused = fuse_evidence(d, s, 3.0)
    np.testing.assert_allclose(fused[0, :3], standardise_rows(d)[0, :3])
    assert np.argmin(fused) == 3


def test_missing_evidence_is_neutral():
    d = np.array([[1.0, 2.0, 3.0, 4.0]])
    s = np.array([[np.nan, 0.0, 1.0, np.nan]])
    z = standardise_rows(s)
    assert z[0, 0] == 0 and z[0, 3] == 0
    fused = fuse_evidence(d, s, 1.0)
    np.testing.assert_allclose(fused[0, [0, 3]], standardise_rows(d)[0, [0, 3]])


def test_rows_are_standardised_one_query_at_a_time():
    d = np.array([[1.0, 2.0, 3.0], [100.0, 200.0, 300.0]])
    z = standardise_rows(d)
    np.testing.assert_allclose(z[0], z[1])
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_array_equal(standardise_rows(np.ones((1, 4))), np.zeros((1, 4)))


def test_one_query_as_a_vector():
    np.testing.assert_allclose(
        fuse_evidence(np.array([1.0, 2.0]), np.array([0.0, 1.0]), 1.0),
        fuse_evidence(np.array([[1.0, 2.0]]), np.array([[0.0, 1.0]]), 1.0)[0],
    )


@pytest.mark.parametrize(
    "d, s, w",
    [
        (np.ones((2, 3)), np.ones((3, 2)), 1.0),
        (np.array([[1.0, np.nan]]), np.ones((1, 2)), 1.0),
        (np.ones((1, 2)), np.ones((1, 2)), -1.0),
        (np.ones((1, 2)), np.ones((1, 2)), np.nan),
    ],
)
def test_bad_input_is_refused(d, s, w):
    with pytest.raises(ValueError):
        fuse_evidence(d, s, w)
