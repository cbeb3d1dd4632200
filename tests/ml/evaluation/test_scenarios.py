"""The evaluation scenarios transform segment sequences as docs/method.md §6 says."""

import numpy as np
import pytest

from ml.evaluation.retrieval import EvaluationError
from ml.evaluation.scenarios import SCENARIOS, apply_scenario, crop_query, stretch_target


def _sequence(k: int) -> np.ndarray:
    return np.arange(k, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)


def test_crop_query_drops_the_first_two_segments():
    np.testing.assert_array_equal(crop_query(_sequence(5))[:, 0], [2, 3, 4])


def test_crop_query_keeps_at_least_one_segment():
    np.testing.assert_array_equal(crop_query(_sequence(2))[:, 0], [1])
    np.testing.assert_array_equal(crop_query(_sequence(1))[:, 0], [0])


def test_stretch_target_repeats_every_segment_twice():
    np.testing.assert_array_equal(stretch_target(_sequence(3))[:, 0], [0, 0, 1, 1, 2, 2])


def test_apply_scenario_touches_the_right_side():
    queries, targets = [_sequence(4)], [_sequence(3)]
    expected_lengths = {
        "vanilla": (4, 3),
        "crop_query": (2, 3),
        "stretch_targets": (4, 6),
        "crop_stretch": (2, 6),
    }
    assert set(expected_lengths) == set(SCENARIOS)
    for scenario, (kq, kc) in expected_lengths.items():
        q, t = apply_scenario(scenario, queries, targets)
        assert (len(q[0]), len(t[0])) == (kq, kc)


def test_bad_scenario_and_sequences_raise():
    with pytest.raises(EvaluationError):
        apply_scenario("mirror", [_sequence(2)], [_sequence(2)])
    with pytest.raises(EvaluationError):
        crop_query(np.zeros((0, 3)))
    with pytest.raises(EvaluationError):
        stretch_target(np.zeros(3))
