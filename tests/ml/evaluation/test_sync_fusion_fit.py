"""Fitting the weight of the synchronisation evidence (ml.evaluation.fusion)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.evaluation.fusion import MIN_CLIPS, PRIOR_WEIGHT, fit_sync_weight, fused_margins
from ml.evaluation.retrieval import EvaluationError, answer_ranks
from ml.ranking.fusion import fuse_evidences


def noisy_distances(n: int, rng: np.random.Generator, signal: float) -> np.ndarray:
    d = rng.normal(size=(n, n))
    d[np.arange(n), np.arange(n)] -= signal
    return d


def test_informative_evidence_gets_a_weight_and_lowers_the_rank():
    rng = np.random.default_rng(0)
    d = noisy_distances(20, rng, 0.5)
    s = rng.normal(size=(20, 20))
    s[np.arange(20), np.arange(20)] += 3.0
    fit = fit_sync_weight(d, s)
    assert fit.weight > 0
    assert fit.mean_ranks[fit.weight] < fit.mean_ranks[0.0]


def test_useless_evidence_stays_off():
    rng = np.random.default_rng(1)
    d = noisy_distances(20, rng, 10.0)  # the learned cost alone is perfect
    s = rng.normal(size=(20, 20))
    assert fit_sync_weight(d, s).weight == 0.0


def test_ties_go_to_the_smaller_weight():
    d = noisy_distances(6, np.random.default_rng(2), 10.0)
    assert fit_sync_weight(d, np.zeros((6, 6))).weight == 0.0


def test_too_few_clips_give_the_evidence_equal_say():
    fit = fit_sync_weight(np.eye(MIN_CLIPS - 1), np.eye(MIN_CLIPS - 1))
    assert fit.weight == PRIOR_WEIGHT == 1.0 and fit.mean_ranks == {}
    assert fit.to_dict()["validation_clips"] == MIN_CLIPS - 1


def test_bad_shapes_are_refused():
    with pytest.raises(EvaluationError):
        fit_sync_weight(np.zeros((5, 4)), np.zeros((5, 4)))
    with pytest.raises(EvaluationError):
        fit_sync_weight(np.zeros((4, 4)), np.zeros((4, 4)), grid=())


def test_margins_measure_the_lead_in_standard_deviations():
    fused = np.array([[0.0, 2.0, 4.0], [1.0, 0.0, 3.0], [0.0, 1.0, 5.0]])
    margins = fused_margins(fused)
    assert margins[0] == pytest.approx(2.0 / fused[0].std())
    assert margins[1] == pytest.approx(1.0 / fused[1].std())
    assert margins[2] < 0  # the right candidate (5.0) trails
    assert fused_margins(np.ones((2, 3))).tolist() == [0.0, 0.0]


def test_a_perfect_tie_in_rank_goes_to_the_widest_margin():
    # Three clips ranked perfectly by every weight: the weight that separates the right
    # soundtracks most is kept, not the smallest.
    rng = np.random.default_rng(4)
    d = noisy_distances(MIN_CLIPS, rng, 2.0)
    s = -d + 0.01 * rng.normal(size=d.shape)  # the evidence agrees with the distance
    s[np.arange(MIN_CLIPS), np.arange(MIN_CLIPS)] += 5.0  # and leads by more
    fit = fit_sync_weight(d, s)
    assert len(set(fit.mean_ranks.values())) == 1
    assert fit.weight == max(fit.margins, key=fit.margins.get) > 0
    assert set(fit.to_dict()["margin_by_weight"]) == set(fit.to_dict()["mean_rank_by_weight"])


def test_the_weight_is_fit_beside_the_evidence_served_at_a_fixed_weight():
    rng = np.random.default_rng(3)
    d = noisy_distances(12, rng, 0.3)
    s, fixed = rng.normal(size=(12, 12)), rng.normal(size=(12, 12))
    fixed[np.arange(12), np.arange(12)] += 2.0
    fit = fit_sync_weight(d, s, fixed=[(fixed, 0.5)])
    for weight, rank in fit.mean_ranks.items():
        served = fuse_evidences(d, [(s, weight), (fixed, 0.5)])
        assert rank == pytest.approx(answer_ranks(served).mean())
    # Without it, weight 0 is the learned ranking alone: a worse start.
    assert fit.mean_ranks[0.0] < fit_sync_weight(d, s).mean_ranks[0.0]
    with pytest.raises(EvaluationError):
        fit_sync_weight(d, s, fixed=[(fixed[:5], 0.5)])
