"""The suggested excerpt: snapped to downbeats, moved to where the cuts meet the music."""

from __future__ import annotations

import numpy as np
import pytest

from ml.edit import suggest_excerpt, synced_excerpt

BAR = 2.0  # s: 120 bpm in 4/4
DOWNBEATS = np.arange(0.0, 120.0, BAR)


def test_the_excerpt_starts_on_the_downbeat_before_the_anchor_and_covers_the_video() -> None:
    e = suggest_excerpt(13.1, 30.0, 120.0, DOWNBEATS)
    assert (e.start_s, e.end_s) == (12.0, 42.0)
    assert e.snapped_start and e.snapped_end and e.covers_video
    whole = suggest_excerpt(5.0, 150.0, 120.0, DOWNBEATS)
    assert (whole.start_s, whole.end_s, whole.covers_video) == (0.0, 120.0, False)
    with pytest.raises(ValueError):
        suggest_excerpt(0.0, 0.0, 120.0, DOWNBEATS)


def test_the_start_moves_to_the_bar_where_a_cut_meets_the_section_change() -> None:
    # Cuts every two bars, on downbeats whichever downbeat the video starts on. The
    # section change at 44 s meets no cut when the video starts at the anchor's
    # downbeat (20 s: it falls at 24 s, between the cuts at 22 and 26); one bar
    # earlier or later it does.
    cuts = np.arange(2.0, 30.0, 2 * BAR)
    base = suggest_excerpt(20.0, 30.0, 120.0, DOWNBEATS)
    assert base.start_s == 20.0
    synced = synced_excerpt(20.0, cuts, 30.0, 120.0, DOWNBEATS, np.array([44.0, 80.0]))
    assert synced.excerpt.start_s in (18.0, 22.0)
    assert synced.excerpt.snapped_start and synced.excerpt.covers_video
    assert synced.excerpt.end_s - synced.excerpt.start_s >= 30.0
    assert any(line.startswith("cut at") and "section change" in line for line in synced.events)
    far = synced_excerpt(20.0, cuts, 30.0, 120.0, DOWNBEATS, np.array([44.0, 80.0]), window_s=1.0)
    assert far.excerpt.start_s == 20.0  # the window keeps the excerpt where the content fits
    assert far.score < synced.score


def test_without_cuts_or_downbeats_the_plain_excerpt_stands() -> None:
    plain = suggest_excerpt(20.0, 30.0, 120.0, DOWNBEATS)
    no_cuts = synced_excerpt(20.0, np.zeros(0), 30.0, 120.0, DOWNBEATS, np.zeros(0))
    assert no_cuts.excerpt == plain and no_cuts.score is None and no_cuts.events == ()
    no_beats = synced_excerpt(20.0, np.array([5.0]), 30.0, 120.0, np.zeros(0), np.zeros(0))
    assert no_beats.score is None
