"""A track's evidence prior over a bank of music videos (ml.sync.prior)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.segments import segment_vectors
from ml.sync.beat_grid import beat_grid_scores
from ml.sync.offset import TrackEvents
from ml.sync.prior import SyncBank, centre_on_prior
from ml.sync.structure import structure_scores


def _track(period_s: float, duration_s: float = 60.0) -> TrackEvents:
    beats = np.arange(0.0, duration_s, period_s)
    return TrackEvents(beats[::4], np.array([0.0, duration_s / 2, duration_s]), duration_s, beats)


def _bank(periods_s: list[float], seed: int = 0) -> SyncBank:
    """Videos of 20 s cut every few beats of their own period, at a random phase."""
    rng = np.random.default_rng(seed)
    cuts = []
    for period in periods_s:
        phase = rng.uniform(0, period)
        cuts.append(np.arange(phase + period, 19.0, 2 * period))
    ids = tuple(f"clip{i}" for i in range(len(periods_s)))
    frames = tuple(rng.normal(size=(20, 6)) for _ in periods_s)
    return SyncBank(ids, tuple(cuts), np.full(len(periods_s), 20.0), frames)


def test_the_prior_is_the_tracks_mean_evidence_over_the_bank():
    bank = _bank([0.5, 0.5, 0.5, 0.5, 0.61, 0.7])
    tracks = [_track(0.5), _track(0.83)]
    frames = [np.random.default_rng(9).normal(size=(60, 10)) for _ in tracks]
    priors = bank.priors(tracks, frames)
    beat = [beat_grid_scores(c, 20.0, tracks).score for c in bank.cuts_s]
    np.testing.assert_allclose(priors.beat, np.mean(beat, axis=0))
    structure = [
        structure_scores(f, frames, beat_grid_scores(c, 20.0, tracks).offset_s)
        for c, f in zip(bank.cuts_s, bank.frames, strict=True)
    ]
    np.testing.assert_allclose(priors.structure, np.mean(structure, axis=0))
    # The track whose grid most of the bank's videos were cut on has the higher prior.
    assert priors.beat[0] > priors.beat[1] + 0.1


def test_a_tracks_own_video_is_left_out_of_its_prior():
    bank = _bank([0.5, 0.7, 0.7])
    tracks = [_track(0.5), _track(0.5)]
    own = bank.priors(tracks, [None, None], own=["clip0", None])
    rest = SyncBank(bank.clip_ids[1:], bank.cuts_s[1:], bank.durations_s[1:], bank.frames[1:])
    assert own.beat[0] == pytest.approx(rest.priors(tracks[:1], [None]).beat[0])
    assert own.beat[1] == pytest.approx(bank.priors(tracks[1:], [None]).beat[0])
    assert np.isnan(own.structure).all()  # no features: no structure prior


def test_centring_subtracts_the_prior_and_keeps_a_score_without_one():
    scores = np.array([[0.9, 0.8, np.nan], [0.2, 0.7, 0.5]])
    centred = centre_on_prior(scores, np.array([0.1, 0.6, np.nan]))
    np.testing.assert_allclose(centred, [[0.8, 0.2, np.nan], [0.1, 0.1, 0.5]])
    # The hub (0.8 for query 0, 0.7 for query 1) no longer leads query 0.
    assert np.nanargmax(centred[0]) == 0


def test_a_bank_round_trips_through_its_file(tmp_path):
    bank = _bank([0.5, 0.6, 0.75], seed=3)
    bank.save(tmp_path / "bank.npz")
    back = SyncBank.load(tmp_path / "bank.npz")
    assert back.clip_ids == bank.clip_ids
    np.testing.assert_array_equal(back.durations_s, bank.durations_s)
    for a, b in zip(back.cuts_s + back.frames, bank.cuts_s + bank.frames, strict=True):
        np.testing.assert_array_equal(a, b)
    tracks = [_track(0.5)]
    assert back.priors(tracks, [None]).beat == pytest.approx(bank.priors(tracks, [None]).beat)


def test_an_empty_bank_gives_no_prior():
    empty = SyncBank((), (), np.zeros(0), ())
    priors = empty.priors([_track(0.5)], [None])
    assert len(empty) == 0 and np.isnan(priors.beat).all()


def test_bad_banks_and_inputs_are_refused():
    with pytest.raises(ValueError, match="one id"):
        SyncBank(("a",), (), np.ones(1), ())
    with pytest.raises(ValueError, match="positive duration"):
        SyncBank(("a",), (np.zeros(0),), np.zeros(1), (np.zeros((3, 2)),))
    with pytest.raises(ValueError, match="frame arrays"):
        _bank([0.5]).priors([_track(0.5)], [])


def test_a_banks_videos_are_cut_into_segments_as_queries_are():
    bank = _bank([0.5, 0.7], seed=4)
    vectors = bank.segment_vectors()
    for v, cuts, frames in zip(vectors, bank.cuts_s, bank.frames, strict=True):
        np.testing.assert_allclose(v, segment_vectors(frames, np.r_[0.0, cuts, 20.0]))
        assert v.shape == (len(cuts) + 1, frames.shape[1])
