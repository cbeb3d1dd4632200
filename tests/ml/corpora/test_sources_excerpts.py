"""Finding the installed recordings, reading excerpts, and planning clips and splits."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np
import pytest
import soundfile as sf

from ml.corpora.excerpts import (
    SPLITS,
    clip_id_of,
    excerpt_windows,
    plan_excerpts,
    seeded_rng,
    split_of,
)
from ml.corpora.sources import (
    PACKAGES,
    MissingPackageError,
    SourcePackage,
    find_recordings,
    installed_files,
    read_excerpt,
)

ABSENT = SourcePackage("v2m-no-such-music", "v2m-no-such-music", "/nonexistent/*", "none")


@pytest.fixture(scope="module")
def recordings(source_package):
    return find_recordings([source_package])


def test_recordings_of_an_installed_package(recordings, source_package):
    assert len(recordings) >= 2
    assert len({r.id for r in recordings}) == len(recordings)
    for rec in recordings:
        assert rec.id.startswith(f"{source_package}/")
        assert rec.duration_s > 0 and rec.sample_rate > 0
        assert rec.licence == PACKAGES[source_package].licence


def test_a_missing_package_is_named_with_its_install_command():
    assert installed_files(ABSENT) is None
    with pytest.raises(MissingPackageError, match="v2m-no-such-music.*apt-get install"):
        find_recordings([ABSENT])
    with pytest.raises(KeyError, match="unknown source packages"):
        find_recordings(["v2m-no-such-music"])


def test_read_excerpt_is_sample_accurate(recordings):
    rec = max(recordings[:5], key=lambda r: r.duration_s)
    audio, sr = read_excerpt(rec, 3.21, 2.5)
    assert sr == rec.sample_rate
    assert audio.shape == (round(2.5 * sr), audio.shape[1]) and audio.dtype == np.float32
    whole, _ = sf.read(rec.path, frames=round(6 * sr), dtype="float32", always_2d=True)
    first = round(3.21 * sr)
    np.testing.assert_array_equal(audio, whole[first : first + len(audio)])
    # Past the end: zero padding, never a short read.
    tail, _ = read_excerpt(rec, rec.duration_s - 0.5, 1.0)
    assert len(tail) == round(1.0 * sr) and not tail[round(0.6 * sr) :].any()


def test_excerpt_windows_fit_the_recording():
    for seed in range(20):
        duration = 25.0 + 40.0 * seed
        windows = excerpt_windows(duration, seeded_rng(seed), max_per_recording=3)
        assert 1 <= len(windows) <= 3
        for (_s0, e0), (s1, _) in itertools.pairwise(windows):
            assert e0 <= s1
        for start, end in windows:
            assert start >= 1.0 and end <= duration - 1.0
            assert 20.0 <= end - start <= 60.0 + 1e-9
            assert (end - start) * 25 == pytest.approx(round((end - start) * 25))
    assert excerpt_windows(21.0, seeded_rng(0)) == []


def test_plan_is_deterministic_and_grows_by_prefix(recordings):
    plan = plan_excerpts(recordings, seed=3, n_clips=12)
    assert plan == plan_excerpts(recordings, seed=3, n_clips=12)
    assert plan[:5] == plan_excerpts(recordings, seed=3, n_clips=5)
    other = plan_excerpts(recordings, seed=4, n_clips=12)
    assert [(e.start_s, e.end_s) for e in other] != [(e.start_s, e.end_s) for e in plan]
    assert len({e.clip_id for e in plan}) == len(plan)


def test_every_excerpt_of_a_recording_is_in_its_split(recordings):
    plan = plan_excerpts(recordings, seed=0)
    splits = defaultdict(set)
    for e in plan:
        splits[e.recording.id].add(e.split)
        assert e.split == split_of(e.recording.id)
    assert all(len(s) == 1 for s in splits.values())
    assert max(Counter(e.recording.id for e in plan).values()) > 1


def test_split_shares():
    counts = Counter(split_of(f"pkg/track-{i}.ogg") for i in range(3000))
    assert set(counts) == set(SPLITS)
    assert counts["train"] / 3000 == pytest.approx(0.7, abs=0.03)
    assert counts["test"] / 3000 == pytest.approx(0.15, abs=0.03)


def test_plan_interleaves_packages():
    try:
        recs = find_recordings()
    except MissingPackageError as exc:
        pytest.skip(str(exc))
    sources = {r.source for r in recs}
    if len(sources) < 2:
        pytest.skip("a single source package is installed")
    plan = plan_excerpts(recs, seed=0, n_clips=len(sources) * 6)
    assert {e.recording.source for e in plan} == sources


def test_clip_ids_are_file_names():
    assert clip_id_of("wesnoth-music/Battle Epic.ogg", 2) == "wesnoth-music--battle-epic--2"
    assert clip_id_of("warzone2100-music/legacy_soundtrack/track10.opus", 0) == (
        "warzone2100-music--legacy-soundtrack--track10--0"
    )
