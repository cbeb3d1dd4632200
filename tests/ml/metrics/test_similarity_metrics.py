"""Music-similarity metrics against cases worked out by hand."""

import numpy as np
import pytest

from ml.evaluation.retrieval import EvaluationError
from ml.metrics.similarity import (
    average_precision_at_k,
    evaluate_similarity,
    ndcg_at_k,
    ranked_lists,
    recall_at_k,
    reciprocal_rank_at_k,
    relevant_lists,
)

# Relevant items, most similar first: gains 5, 4, 3, 2, 1.
RELEVANT = [10, 11, 12, 13, 14]
# The system finds 11 at position 1, 10 at 3, 14 at 6; 12 and 13 are not in the top 20.
RANKED = [11, 90, 10, 91, 92, 14] + list(range(100, 130))


def test_average_precision_hand_computed():
    # Precisions at the hits: 1/1, 2/3, 3/6; divided by min(5, 20) = 5.
    expected = (1.0 + 2 / 3 + 3 / 6) / 5
    assert average_precision_at_k(RANKED, RELEVANT, 20) == pytest.approx(expected)


def test_recall_hand_computed():
    assert recall_at_k(RANKED, RELEVANT, 20) == pytest.approx(3 / 5)
    assert recall_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / 5)


def test_reciprocal_rank_hand_computed_and_zero_past_k():
    assert reciprocal_rank_at_k(RANKED, RELEVANT, 20) == 1.0
    late = list(range(100, 120)) + [10]  # first relevant at position 21
    assert reciprocal_rank_at_k(late, RELEVANT, 20) == 0.0
    assert reciprocal_rank_at_k(late, RELEVANT, 21) == pytest.approx(1 / 21)


def test_ndcg_hand_computed():
    # DCG: 11 (gain 4) at 1 -> 4/log2(2); 10 (gain 5) at 3 -> 5/log2(4); 14 (gain 1) at 6
    # -> 1/log2(7). Ideal: 5/1 + 4/log2(3) + 3/2 + 2/log2(5) + 1/log2(6).
    dcg = 4 / 1 + 5 / 2 + 1 / np.log2(7)
    ideal = 5 + 4 / np.log2(3) + 3 / 2 + 2 / np.log2(5) + 1 / np.log2(6)
    assert ndcg_at_k(RANKED, RELEVANT, 20) == pytest.approx(dcg / ideal)


def test_perfect_list_scores_one_everywhere():
    ranked = RELEVANT + list(range(100, 120))
    for metric in (average_precision_at_k, recall_at_k, reciprocal_rank_at_k, ndcg_at_k):
        assert metric(ranked, RELEVANT, 20) == pytest.approx(1.0)


def test_relevant_order_matters_for_ndcg_only():
    swapped = [11, 10, 12, 13, 14] + list(range(100, 120))
    assert ndcg_at_k(swapped, RELEVANT, 20) < 1.0
    assert average_precision_at_k(swapped, RELEVANT, 20) == pytest.approx(1.0)


def test_ranked_lists_leave_the_query_out_and_sort_by_distance():
    distances = np.array(
        [
            [0.0, 0.3, 0.1, 0.2],
            [0.3, 0.0, 0.5, 0.4],
            [0.1, 0.5, 0.0, 0.1],
            [0.2, 0.4, 0.1, 0.0],
        ]
    )
    np.testing.assert_array_equal(
        ranked_lists(distances), [[2, 3, 1], [0, 3, 2], [0, 3, 1], [2, 0, 1]]
    )


def test_relevant_lists_are_the_most_similar_others():
    similarity = np.array(
        [
            [1.0, 0.2, 0.9, 0.5],
            [0.2, 1.0, 0.1, 0.3],
            [0.9, 0.1, 1.0, 0.0],
            [0.5, 0.3, 0.0, 1.0],
        ]
    )
    np.testing.assert_array_equal(relevant_lists(similarity, 2), [[2, 3], [3, 0], [0, 1], [0, 1]])


def test_evaluate_similarity_hand_computed():
    # Four tracks, one relevant each (n_relevant=1), k=2.
    similarity = np.array(
        [
            [1.0, 0.9, 0.1, 0.0],
            [0.9, 1.0, 0.0, 0.2],
            [0.1, 0.0, 1.0, 0.8],
            [0.0, 0.2, 0.8, 1.0],
        ]
    )  # relevant: 0->1, 1->0, 2->3, 3->2
    distances = np.array(
        [
            [0.0, 0.1, 0.5, 0.6],  # list 1, 2, 3: hit at 1
            [0.1, 0.0, 0.3, 0.2],  # list 0, 3, 2: hit at 1
            [0.5, 0.3, 0.0, 0.4],  # list 1, 3, 0: hit at 2
            [0.6, 0.2, 0.4, 0.0],  # list 1, 2, 0: hit at 2
        ]
    )
    scores = evaluate_similarity(distances, similarity, k=2, n_relevant=1)
    assert scores.map_at_k == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert scores.recall_at_k == pytest.approx(1.0)
    assert scores.rr_at_k == pytest.approx(0.75)
    assert scores.ndcg_at_k == pytest.approx((1 + 1 + 1 / np.log2(3) + 1 / np.log2(3)) / 4)
    # Cut at k=1, half the queries miss.
    at_one = evaluate_similarity(distances, similarity, k=1, n_relevant=1)
    assert at_one.recall_at_k == 0.5 and at_one.rr_at_k == 0.5


def test_bad_inputs_raise():
    with pytest.raises(EvaluationError):
        ndcg_at_k([1, 2], [], 20)
    with pytest.raises(EvaluationError):
        recall_at_k([1, 1], [1], 20)
    with pytest.raises(EvaluationError):
        average_precision_at_k([1, 2], [1], 0)
    with pytest.raises(EvaluationError):
        evaluate_similarity(np.zeros((3, 3)), np.zeros((4, 4)))
    with pytest.raises(EvaluationError):
        relevant_lists(np.zeros((3, 3)), n_relevant=3)
