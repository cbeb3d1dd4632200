"""Decoding and features on real recordings: tracks of the Debian package
``wesnoth-music`` (orchestral game music, Ogg Vorbis), installed by the
project's install step and never committed."""

from __future__ import annotations

import glob
import math

import numpy as np
import pytest

from ml.features import get_extractor
from ml.features.audio_handcrafted import FEATURE_NAMES
from ml.media.decode import load_audio, probe
from ml.media.errors import SilentAudioError

MUSIC_DIR_GLOB = "/usr/share/games/wesnoth/*/data/core/music"
# Three short full tracks (74 to 112 s) of different character.
TRACKS = ("battle-epic.ogg", "love_theme.ogg", "underground.ogg")


@pytest.fixture(scope="module")
def music_dir() -> str:
    found = sorted(glob.glob(MUSIC_DIR_GLOB))
    if not found:
        pytest.skip("Debian package wesnoth-music not installed (see scripts/install.sh)")
    return found[-1]


@pytest.mark.slow
@pytest.mark.parametrize("track", TRACKS)
def test_features_of_a_full_track(music_dir, track):
    path = f"{music_dir}/{track}"
    extractor = get_extractor("handcrafted", "audio")
    info = probe(path)
    assert (info.audio_codec, info.has_video) == ("vorbis", False)
    y = load_audio(path, extractor.sample_rate)
    assert y.size / extractor.sample_rate == pytest.approx(info.duration_s, abs=0.05)
    features = extractor.extract(y, extractor.sample_rate)
    assert features.shape == (math.ceil(y.size / extractor.sample_rate), extractor.dim)
    assert np.all(np.isfinite(features))
    tempo = 120 * 2 ** np.median(features[:, FEATURE_NAMES.index("log2_tempo_over_120")])
    assert 50 <= tempo <= 240  # a plausible musical tempo
    loudness = features[:, FEATURE_NAMES.index("rms_mean")]
    assert np.all(loudness[5:-5] > 0) and loudness.max() < 1.0


def test_the_packaged_silence_track_is_silent(music_dir):
    with pytest.raises(SilentAudioError):
        load_audio(f"{music_dir}/silence.ogg")
