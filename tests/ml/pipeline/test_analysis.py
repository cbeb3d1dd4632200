"""analyse_track on real recordings (Debian's wesnoth-music) and on a generated song."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.features.registry import UnknownExtractorError
from ml.media.errors import MediaError
from ml.pipeline.analysis import analyse_track, shutdown_worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _stop_worker():
    yield
    shutdown_worker()


def test_real_tracks_all_methods_downbeats_and_features(wesnoth_tracks) -> None:
    for path in wesnoth_tracks:
        result = analyse_track(path)
        duration = result.duration_s
        assert 30.0 < duration < 120.0
        assert set(result.boundaries_s) == {"foote", "sf", "olda"}
        for method, b in result.boundaries_s.items():
            assert b[0] == 0.0 and b[-1] == pytest.approx(duration), (path.name, method)
            lengths = np.diff(b)
            # functional sections of a piece, not beats and not the whole piece
            assert lengths.min() >= 2.0, (path.name, method, b)
            assert 4.0 <= lengths.mean() <= duration, (path.name, method, b)
        beats = result.beats
        assert 50.0 <= beats.tempo_bpm <= 220.0, (path.name, beats.tempo_bpm)
        assert beats.beats_per_bar in (3, 4)
        assert len(beats.downbeats_s) >= duration / 10.0
        assert np.all((beats.beats_s >= 0) & (beats.beats_s <= duration))
        (spec,) = result.extractors
        frames = result.features[spec.key]
        assert frames.shape == (math.ceil(duration - 1e-6), spec.dim)
        assert frames.dtype == np.float32 and np.all(np.isfinite(frames))
        assert {"decode", "structure_features", "segmentation", "downbeats", "total"} <= set(
            result.timings_s
        )


def test_signal_in_parallel_equals_sequential(click_track) -> None:
    signal = (click_track.y, click_track.sr)
    parallel = analyse_track(signal, "foote", parallel=True)
    sequential = analyse_track(signal, "foote", parallel=False)
    np.testing.assert_array_equal(parallel.beats.beats_s, sequential.beats.beats_s)
    np.testing.assert_array_equal(parallel.boundaries_s["foote"], sequential.boundaries_s["foote"])
    for key in parallel.features:
        np.testing.assert_array_equal(parallel.features[key], sequential.features[key])
    assert parallel.beats.tempo_bpm == pytest.approx(click_track.tempo_bpm, rel=0.02)


def test_bad_requests(tmp_path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all\n" * 100)
    with pytest.raises(MediaError):
        analyse_track(text)
    signal = (np.zeros(22050, np.float32), 22050)
    with pytest.raises(ValueError):
        analyse_track(signal, "cnmf")
    with pytest.raises(ValueError):
        analyse_track((np.zeros((2, 100), np.float32), 22050))
    with pytest.raises(UnknownExtractorError):
        analyse_track(signal, "sf", ("no-such-extractor",))


def test_tags_come_from_a_tagging_extractor_or_the_tagger(click_track) -> None:
    """The analysis keeps the tagging extractor's track tags (named by its model);
    without one, a ``tagger`` gives the same tags in a pass of its own (timed apart) and
    none otherwise; :func:`soundtrack_tags` computes the same tags from the decoded
    signal alone."""
    import librosa

    from ml.pipeline.analysis import DECODE_SAMPLE_RATE
    from ml.pipeline.track import soundtrack_tags

    y = librosa.resample(click_track.y, orig_sr=click_track.sr, target_sr=DECODE_SAMPLE_RATE)
    signal = (y.astype(np.float32), DECODE_SAMPLE_RATE)
    tagged = analyse_track(signal, "foote", ["handcrafted+musicnn"], parallel=False)
    untagged = analyse_track(signal, "foote", ["handcrafted"], parallel=False)
    assert untagged.tags is None
    assert tagged.tags is not None and "instrumental" in tagged.tags.names
    assert tagged.tags.source == "audio/musicnn@msd+mtt-1"
    again = soundtrack_tags(signal[0])
    np.testing.assert_allclose(again.confidences, tagged.tags.confidences, rtol=1e-5)

    apart = analyse_track(signal, "foote", ["handcrafted"], tagger="musicnn", parallel=False)
    assert "tags" in apart.timings_s and list(apart.features) == list(untagged.features)
    assert apart.tags.names == tagged.tags.names and apart.tags.source == tagged.tags.source
    np.testing.assert_allclose(apart.tags.confidences, tagged.tags.confidences, rtol=1e-5)
    same_pass = analyse_track(
        signal, "foote", ["handcrafted+musicnn"], tagger="musicnn", parallel=False
    )
    assert "tags" not in same_pass.timings_s
    np.testing.assert_array_equal(same_pass.tags.confidences, tagged.tags.confidences)
