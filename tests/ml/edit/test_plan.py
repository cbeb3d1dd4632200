"""The edit plan on generated structures with known downbeats, sections and cuts."""

from __future__ import annotations

import numpy as np
import pytest

from ml.edit.plan import EditPlan, PathPair, TrackStructure, plan_edit

BAR = 2.0  # s: 120 bpm in 4/4


def track(duration_s: float, sections: list[float], bar_s: float = BAR) -> TrackStructure:
    return TrackStructure(
        duration_s,
        np.arange(0.0, duration_s, bar_s),
        np.arange(0.0, duration_s, bar_s / 4),
        np.array(sections),
    )


def check_well_formed(plan: EditPlan, structure: TrackStructure) -> None:
    """Spans cover the video end to end, each as long in the track as in the video, inside
    the track, every one but a lead-in starting on a downbeat; joins are span starts."""
    spans = plan.spans
    assert spans[0].video_start_s == 0.0
    assert spans[-1].video_end_s == pytest.approx(plan.video_duration_s)
    for a, b in zip(spans[:-1], spans[1:]):
        assert a.video_end_s == pytest.approx(b.video_start_s)
    for i, span in enumerate(spans):
        assert span.track_end_s - span.track_start_s == pytest.approx(
            span.video_end_s - span.video_start_s
        )
        assert -1e-9 <= span.track_start_s and span.track_end_s <= structure.duration_s + 1e-9
        if i > 0 or plan.lead_in_s == 0:
            assert np.min(np.abs(structure.downbeats_s - span.track_start_s)) < 1e-9
    assert list(plan.joins_s) == pytest.approx([s.video_start_s for s in spans[1:]])
    for cut in plan.cuts:
        nearest = np.min(np.abs(np.array(plan.downbeats_s) - cut.cut_s))
        assert abs(cut.miss_s) == pytest.approx(nearest)
        assert cut.hit == (abs(cut.miss_s) <= plan.tolerance_s)


def test_cuts_on_the_bar_grid_are_all_hit_and_the_section_change_moves_onto_a_cut() -> None:
    # Played from the anchor (12 s) the section change at 16 s falls at 4 s, between
    # the cuts; starting one bar earlier puts it on the cut at 6 s.
    structure = track(120.0, [16.0, 40.0, 64.0, 96.0])
    plan = plan_edit(30.0, [6.0, 14.0, 20.0], structure, anchor_s=12.0)
    check_well_formed(plan, structure)
    assert plan.n_hit == 3
    assert plan.spans[0].track_start_s == 10.0
    assert plan.cuts[0].section and plan.cuts[0].miss_s == 0.0
    as_json = plan.as_dict()
    assert as_json["cuts_hit"] == 3 and len(as_json["spans"]) == len(plan.spans)


def test_cuts_off_the_grid_are_reached_by_a_lead_in_and_misses_are_measured() -> None:
    structure = track(120.0, [32.0, 64.0])
    cuts = np.array([4.7, 8.7, 12.7, 20.7])
    plan = plan_edit(30.0, cuts, structure, anchor_s=0.0)
    check_well_formed(plan, structure)
    assert plan.lead_in_s == pytest.approx(0.7)
    assert plan.n_hit == 4
    straight = plan_edit(30.0, cuts, structure, anchor_s=0.0, tolerance_s=0.05)
    assert straight.n_hit == 4  # the lead-in is exact
    # A cut a quarter bar off the grid the lead-in chose is missed by half a second.
    off = plan_edit(30.0, np.append(cuts, 15.2), structure, anchor_s=0.0)
    missed = [c for c in off.cuts if not c.hit]
    assert [c.cut_s for c in missed] == [15.2] and missed[0].miss_s == pytest.approx(-0.5)


def test_the_alignment_path_chooses_the_spans() -> None:
    structure = track(120.0, [16.0, 32.0, 48.0, 64.0, 80.0, 96.0])
    path = [PathPair(0.0, 16.0, 50.0, 66.0), PathPair(16.0, 30.0, 82.0, 96.0)]
    plan = plan_edit(30.0, [6.0, 16.0], structure, path=path)
    check_well_formed(plan, structure)
    assert [s.track_start_s for s in plan.spans] == [48.0, 80.0]
    assert plan.joins_s == (16.0,)
    assert plan.cuts[1].join and plan.cuts[1].section and plan.cuts[1].hit


def test_the_tracks_own_ending_when_it_fits_else_a_fade_over_the_last_bar() -> None:
    structure = track(40.0, [8.0, 16.0, 24.0, 32.0])
    plan = plan_edit(30.0, [], structure)
    check_well_formed(plan, structure)
    assert plan.ending == "track" and plan.spans[-1].track_end_s == 40.0
    assert plan.fade_start_s == 30.0  # nothing of the ending is cut: no fade
    faded = plan_edit(29.0, [], structure, anchor_s=0.0)
    check_well_formed(faded, structure)
    assert faded.ending == "fade"
    # The fade covers the last bar: from the last downbeat at least half a bar before
    # the end.
    assert faded.fade_start_s in faded.downbeats_s
    assert BAR <= 29.0 - faded.fade_start_s + 0.5 * BAR <= 2.5 * BAR


def test_a_video_longer_than_the_track_repeats_sections() -> None:
    structure = track(40.0, [8.0, 16.0, 24.0, 32.0])
    plan = plan_edit(100.0, np.arange(4.0, 100.0, 4.0), structure)
    check_well_formed(plan, structure)
    assert len(plan.spans) >= 3
    played = sum(s.track_end_s - s.track_start_s for s in plan.spans)
    assert played == pytest.approx(100.0)
    assert plan.n_hit == len(plan.cuts)
    for start in (s.track_start_s for s in plan.spans[1:]):
        assert start in (8.0, 16.0, 24.0, 32.0)  # joins go to a section's start


def test_a_tempo_change_keeps_the_joins_on_downbeats() -> None:
    downbeats = np.concatenate([np.arange(0.0, 40.0, 2.0), 40.0 + np.arange(0.0, 60.0, 1.5)])
    structure = TrackStructure(100.0, downbeats, np.zeros(0), np.array([20.0, 40.0, 64.0]))
    plan = plan_edit(45.0, [3.0, 9.0, 12.0, 18.0, 30.0, 34.5], structure)
    check_well_formed(plan, structure)
    assert plan.n_hit == 6


def test_bad_input_gets_a_clear_error() -> None:
    structure = track(40.0, [8.0])
    with pytest.raises(ValueError, match="video_duration_s"):
        plan_edit(0.0, [], structure)
    with pytest.raises(ValueError, match="two downbeats"):
        plan_edit(10.0, [], TrackStructure(40.0, np.array([1.0])))
    with pytest.raises(ValueError, match="cut_times_s"):
        plan_edit(10.0, [np.nan], structure)
    with pytest.raises(ValueError, match="tolerance_s"):
        plan_edit(10.0, [], structure, tolerance_s=-1.0)
