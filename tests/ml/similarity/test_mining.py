"""Ranked-list triplet mining obeys the rules of docs/method.md §4."""

from dataclasses import asdict

import numpy as np
import pytest

from ml.similarity.mining import (
    MINING_STRATEGIES,
    MiningConfig,
    load_triplets,
    mine_triplets,
    rank_by_similarity,
    save_triplets,
)
from ml.similarity.tags import SimilarityError


def _random_similarity(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.random((n, n))
    s = (s + s.T) / 2
    np.fill_diagonal(s, 1.0)
    return s


def test_rank_by_similarity_hand_computed():
    s = np.array(
        [[1.0, 0.2, 0.9, 0.5], [0.2, 1.0, 0.1, 0.3], [0.9, 0.1, 1.0, 0.0], [0.5, 0.3, 0.0, 1.0]]
    )
    np.testing.assert_array_equal(
        rank_by_similarity(s), [[2, 3, 1], [3, 0, 2], [0, 1, 3], [0, 1, 2]]
    )


@pytest.mark.parametrize("strategy", MINING_STRATEGIES)
def test_positives_are_among_the_np_most_similar_and_negatives_after_them(strategy):
    s = _random_similarity(60)
    n_positives = 5
    triplets = mine_triplets(s, strategy, n_positives=n_positives, n_negatives=20, seed=1)
    assert triplets.shape[1] == 3 and len(triplets) > 0
    ranked = rank_by_similarity(s)
    for anchor, positive, negative in triplets:
        assert anchor != positive and anchor != negative
        assert positive in ranked[anchor, :n_positives]
        assert s[anchor, negative] < s[anchor, positive]
    # Every anchor gets all of its Np positives (random S has no zeros, no ties).
    pairs = {(a, p) for a, p, _ in triplets}
    assert len(pairs) == 60 * n_positives


def test_neighbours_takes_the_tracks_right_after_the_positive():
    s = _random_similarity(30)
    ranked = rank_by_similarity(s)
    triplets = mine_triplets(s, "neighbours", n_positives=2, n_negatives=4)
    first = triplets[(triplets[:, 0] == 0) & (triplets[:, 1] == ranked[0, 1])]
    np.testing.assert_array_equal(first[:, 2], ranked[0, 2:6])
    assert len(triplets) == 30 * 2 * 4


def test_uniform_draws_cover_the_tail_evenly():
    # One anchor, positive = track 1; candidates 2..5 have very different S.
    s = np.eye(6)
    s[0, 1:] = [0.9, 0.8, 0.4, 0.2, 0.01]
    triplets = mine_triplets(s, "uniform", n_positives=1, n_negatives=4, seed=0)
    anchor0 = triplets[triplets[:, 0] == 0]
    # Repeat with many seeds and count.
    counts = np.zeros(6)
    for seed in range(500):
        t = mine_triplets(s, "uniform", n_positives=1, n_negatives=4, seed=seed)
        t = t[t[:, 0] == 0]
        counts += np.bincount(t[:, 2], minlength=6)
    assert set(anchor0[:, 1]) == {1}
    share = counts[2:] / counts[2:].sum()
    np.testing.assert_allclose(share, 0.25, atol=0.03)


def test_distance_based_sampling_is_proportional_to_similarity():
    s = np.eye(6)
    s[0, 1:] = [0.9, 0.8, 0.4, 0.2, 0.0]
    counts = np.zeros(6)
    for seed in range(500):
        t = mine_triplets(s, "distance", n_positives=1, n_negatives=4, seed=seed)
        t = t[t[:, 0] == 0]
        counts += np.bincount(t[:, 2], minlength=6)
    share = counts[2:] / counts[2:].sum()
    # P(n) = S(0, n) / sum: 0.8/1.4, 0.4/1.4, 0.2/1.4, 0.
    np.testing.assert_allclose(share, [0.8 / 1.4, 0.4 / 1.4, 0.2 / 1.4, 0.0], atol=0.03)
    assert counts[5] == 0


def test_ties_with_the_positive_are_never_negatives_and_zero_similarity_is_no_positive():
    s = np.eye(5)
    s[0, 1:] = [0.5, 0.5, 0.2, 0.0]
    triplets = mine_triplets(s, "neighbours", n_positives=4, n_negatives=10)
    anchor0 = triplets[triplets[:, 0] == 0]
    # Positives 1 and 2 (tied) take negatives 3 and 4; positive 3 takes 4; 4 (S=0) is none.
    assert {tuple(t) for t in anchor0.tolist()} == {
        (0, 1, 3),
        (0, 1, 4),
        (0, 2, 3),
        (0, 2, 4),
        (0, 3, 4),
    }


def test_mining_is_reproducible_and_round_trips(tmp_path):
    s = _random_similarity(20)
    config = MiningConfig(strategy="distance", n_positives=3, n_negatives=5, seed=7)
    a = mine_triplets(s, **asdict(config))
    b = mine_triplets(s, **asdict(config))
    np.testing.assert_array_equal(a, b)
    path = save_triplets(tmp_path / "triplets.npz", a, config)
    loaded, loaded_config = load_triplets(path)
    np.testing.assert_array_equal(loaded, a)
    assert loaded_config == config


def test_bad_parameters_raise():
    with pytest.raises(SimilarityError):
        mine_triplets(np.eye(3), "hardest")
    with pytest.raises(SimilarityError):
        mine_triplets(np.eye(3), n_positives=0)
    with pytest.raises(SimilarityError):
        mine_triplets(-np.eye(3))
