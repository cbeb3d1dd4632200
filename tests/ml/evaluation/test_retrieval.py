"""Retrieval metrics against cases worked out by hand."""

import numpy as np
import pytest

from ml.evaluation.retrieval import (
    EvaluationError,
    answer_ranks,
    chance_scores,
    evaluate_ranks,
    mean_rank,
    recall_at_k,
)


def test_answer_ranks_hand_computed():
    # Query 0: answer 0 has distance 0.2; one candidate (0.1) is closer -> rank 2.
    # Query 1: answer 1 has distance 0.0, the smallest -> rank 1.
    # Query 2: answer 2 has distance 0.9, the largest of three -> rank 3.
    distances = np.array(
        [
            [0.2, 0.1, 0.5],
            [0.3, 0.0, 0.4],
            [0.5, 0.1, 0.9],
        ]
    )
    np.testing.assert_array_equal(answer_ranks(distances), [2.0, 1.0, 3.0])


def test_answer_ranks_with_explicit_answers():
    distances = np.array([[0.2, 0.1, 0.5], [0.3, 0.0, 0.4]])
    # Query 0's answer is candidate 2 (0.5, worst of 3); query 1's is candidate 0 (0.3,
    # second best).
    np.testing.assert_array_equal(answer_ranks(distances, np.array([2, 0])), [3.0, 2.0])


def test_ties_use_mid_rank_so_constant_distances_score_chance():
    # Answer ties with the two others: 1 + 0 better + 2 ties / 2 = 2 = (C + 1) / 2.
    np.testing.assert_array_equal(answer_ranks(np.zeros((3, 3))), [2.0, 2.0, 2.0])
    # One closer, one tied: 1 + 1 + 0.5.
    np.testing.assert_array_equal(answer_ranks(np.array([[0.5, 0.1, 0.5]])), [2.5])


def test_recall_at_k_hand_computed():
    ranks = np.array([1, 2, 10, 11, 30])
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 5)
    assert recall_at_k(ranks, 10) == pytest.approx(3 / 5)
    assert recall_at_k(ranks, 25) == pytest.approx(4 / 5)


def test_mean_rank_and_confidence_interval_hand_computed():
    # ranks 1, 2, 3, 4, 5: mean 3, sample std sqrt(2.5), sem sqrt(0.5), t(0.975, 4) = 2.776.
    mean, (low, high) = mean_rank(np.array([1, 2, 3, 4, 5]))
    assert mean == pytest.approx(3.0)
    half = 2.7764451051977987 * np.sqrt(0.5)
    assert low == pytest.approx(3.0 - half)
    assert high == pytest.approx(3.0 + half)


def test_mean_rank_single_query_has_degenerate_interval():
    assert mean_rank(np.array([7.0])) == (7.0, (7.0, 7.0))


def test_evaluate_ranks_bundles_everything():
    scores = evaluate_ranks(np.array([1, 2, 10, 11, 30]), n_candidates=40)
    assert scores.recall == {1: 0.2, 10: 0.6, 25: 0.8}
    assert scores.mean_rank == pytest.approx(54 / 5)
    assert scores.n_queries == 5 and scores.n_candidates == 40
    as_dict = scores.to_dict()
    assert as_dict["recall"]["R@10"] == 0.6 and len(as_dict["rank_ci95"]) == 2


def test_chance_scores():
    assert chance_scores(1000) == {"R@1": 0.001, "R@10": 0.01, "R@25": 0.025, "mean_rank": 500.5}


def test_random_distances_score_near_chance():
    rng = np.random.default_rng(0)
    ranks = answer_ranks(rng.random((400, 400)))
    assert abs(ranks.mean() - 200.5) < 20


@pytest.mark.parametrize(
    "distances",
    [np.zeros(3), np.array([[np.nan, 0.0], [0.0, 0.0]]), np.zeros((2, 0))],
)
def test_bad_distances_raise(distances):
    with pytest.raises(EvaluationError):
        answer_ranks(distances)


def test_bad_answers_and_ranks_raise():
    with pytest.raises(EvaluationError):
        answer_ranks(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(EvaluationError):
        recall_at_k(np.array([0.5]), 1)
    with pytest.raises(EvaluationError):
        recall_at_k(np.array([1.0]), 0)
    with pytest.raises(EvaluationError):
        evaluate_ranks(np.array([3.0]), n_candidates=2)
