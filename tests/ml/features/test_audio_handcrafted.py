"""Handcrafted audio features: shapes, determinism, and that they mean what they say."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from ml.features import FeatureInputError, get_extractor
from ml.features.audio_handcrafted import FEATURE_NAMES, _frame_features, spectral_shape


@pytest.fixture(scope="module")
def extractor():
    return get_extractor("handcrafted", "audio")


def column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def standardised(features: np.ndarray) -> np.ndarray:
    """Per-column z-scores, as a trained model's normalisation would do."""
    std = features.std(0)
    return (features - features.mean(0)) / np.where(std > 0, std, 1.0)


def leave_one_out_nearest_centroid(z: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows closer to their own class centroid (computed without
    them) than to the other class's centroid."""
    hits = 0
    for i in range(len(z)):
        keep = np.arange(len(z)) != i
        centroids = [z[keep & (labels == k)].mean(0) for k in (0, 1)]
        hits += int(np.argmin([np.linalg.norm(z[i] - c) for c in centroids]) == labels[i])
    return hits / len(z)


@pytest.mark.parametrize("duration_s, rows", [(3.0, 3), (3.2, 4), (0.3, 1), (1 / 22050, 1)])
def test_one_finite_row_per_started_second(extractor, make_chord, duration_s, rows):
    y = make_chord(duration_s) if duration_s > 0.01 else np.full(1, 0.1, np.float32)
    features = extractor.extract(y, 22050)
    assert features.shape == (rows, extractor.dim) and features.dtype == np.float32
    assert np.all(np.isfinite(features))


def test_deterministic(extractor, audio_media):
    first = extractor.extract(audio_media.two_textures, audio_media.sr)
    second = extractor.extract(audio_media.two_textures.copy(), audio_media.sr)
    np.testing.assert_array_equal(first, second)


def test_two_textures_are_separated(extractor, audio_media):
    features = extractor.extract(audio_media.two_textures, audio_media.sr)
    assert features.shape == (12, extractor.dim)
    chord, noise = features[:5], features[7:]  # one second of margin around the change at 6 s
    z = standardised(np.vstack([chord, noise]))
    labels = np.array([0] * len(chord) + [1] * len(noise))
    assert leave_one_out_nearest_centroid(z, labels) == 1.0
    between = np.linalg.norm(z[labels == 0].mean(0) - z[labels == 1].mean(0))
    within = np.median([np.linalg.norm(z[labels == k] - z[labels == k].mean(0), axis=1)
                        for k in (0, 1)])  # fmt: skip
    assert between > 2 * within

    # And the columns mean what their names say.
    assert noise[:, column("centroid_mean")].min() > 3 * chord[:, column("centroid_mean")].max()
    assert noise[:, column("flatness_mean")].min() > 10 * chord[:, column("flatness_mean")].max()
    assert noise[:, column("onset_std")].min() > chord[:, column("onset_std")].max()
    chroma = chord[:, [column(f"chroma{i}_mean") for i in range(12)]].mean(0)
    assert set(np.argsort(chroma)[-3:]) == {9, 0, 4}  # A, C, E: the A minor triad


@pytest.mark.parametrize("bpm", [120, 90])
def test_dominant_tempo_of_a_click_track(extractor, audio_media, bpm):
    y = audio_media.clicks_120 if bpm == 120 else audio_media.clicks_90
    features = extractor.extract(y, audio_media.sr)
    # Seconds whose 8.9 s tempogram window lies inside the track.
    log_tempo = features[5:15, column("log2_tempo_over_120")]
    np.testing.assert_allclose(2**log_tempo * 120, bpm, rtol=0.02)
    assert features[5:15, column("pulse_clarity")].min() > 0.5


def test_clicks_have_a_clear_pulse_and_steady_noise_has_none(extractor, audio_media):
    clicks = extractor.extract(audio_media.clicks_120, audio_media.sr)
    noise = np.random.default_rng(3).standard_normal(20 * audio_media.sr).astype(np.float32) * 0.1
    steady = extractor.extract(noise, audio_media.sr)
    clarity = column("pulse_clarity")
    assert np.median(clicks[5:15, clarity]) > np.median(steady[5:15, clarity]) + 0.5


def test_blockwise_stft_equals_one_stft(audio_media):
    y = audio_media.long_noise  # 60 s: two blocks
    frames = _frame_features(y)
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, center=True,
                                pad_mode="constant")) ** 2  # fmt: skip
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=22050),
                                  ref=1.0, amin=1e-10, top_db=None)  # fmt: skip
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=20)
    assert frames["mfcc"].shape == mfcc.shape
    np.testing.assert_allclose(frames["mfcc"], mfcc, atol=1e-2)
    np.testing.assert_allclose(frames["log_mel"], log_mel, atol=1e-3)


def test_other_sample_rates_are_resampled(extractor, make_chord):
    at_22k = extractor.extract(make_chord(4, sr=22050), 22050)
    at_44k = extractor.extract(make_chord(4, sr=44100), 44100)
    assert at_44k.shape == at_22k.shape
    mfcc_means = [column(f"mfcc{i}_mean") for i in range(20)]
    np.testing.assert_allclose(at_44k[:, mfcc_means], at_22k[:, mfcc_means], atol=0.5)
    np.testing.assert_allclose(at_44k[:, column("centroid_mean")],
                               at_22k[:, column("centroid_mean")], rtol=0.02)  # fmt: skip


def test_silence_gives_finite_features(extractor):
    features = extractor.extract(np.zeros(3 * 22050, np.float32), 22050)
    assert np.all(np.isfinite(features))
    assert np.all(features[:, column("rms_mean")] == 0)
    np.testing.assert_array_equal(features[:, column("log2_tempo_over_120")], 0.0)


@pytest.mark.parametrize(
    "y, sr",
    [
        (np.zeros((2, 22050), np.float32), 22050),
        (np.zeros(0, np.float32), 22050),
        (np.zeros(22050, np.int16), 22050),
        (np.full(22050, np.nan, np.float32), 22050),
        (np.zeros(22050, np.float32), 0),
        (np.zeros(22050, np.float32), 22050.0),
    ],
)
def test_bad_input(extractor, y, sr):
    with pytest.raises(FeatureInputError):
        extractor.extract(y, sr)


def test_spectral_shape_and_chroma_follow_librosa_definitions(audio_media):
    y = audio_media.two_textures[: 4 * audio_media.sr]
    frames = _frame_features(y)
    magnitude = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, pad_mode="constant"))
    magnitude[:, :3] = 0.0  # silent frames too
    centroid, bandwidth, rolloff, flatness = spectral_shape(magnitude, magnitude**2)
    sr = audio_media.sr
    np.testing.assert_allclose(centroid, librosa.feature.spectral_centroid(S=magnitude, sr=sr)[0],
                               atol=0.05)  # fmt: skip
    np.testing.assert_allclose(
        bandwidth, librosa.feature.spectral_bandwidth(S=magnitude, sr=sr)[0], atol=0.05
    )
    np.testing.assert_allclose(rolloff, librosa.feature.spectral_rolloff(S=magnitude, sr=sr)[0])
    np.testing.assert_allclose(flatness, librosa.feature.spectral_flatness(S=magnitude)[0],
                               rtol=1e-4)  # fmt: skip
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, pad_mode="constant")) ** 2
    np.testing.assert_allclose(
        frames["chroma"], librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0), atol=1e-5
    )


def test_features_straight_from_the_file(tmp_path, extractor, make_chord):
    import subprocess

    from ml.features.from_file import extract_file
    from ml.media.errors import NoAudioStreamError

    path = tmp_path / "chord.flac"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "f32le",
            "-ar",
            "22050",
            "-ac",
            "1",
            "-i",
            "pipe:0",
            str(path),
        ],
        input=make_chord(3.5).tobytes(),
        check=True,
    )
    result = extract_file(path, "handcrafted", "audio")
    assert result.features.shape == (4, extractor.dim) and result.duration_s == 3.5
    direct = extractor.extract(make_chord(3.5), 22050)
    # FLAC stores 16 bits: timbre and harmony agree; the noise floor (contrast
    # valleys, flatness) legitimately differs.
    robust = [column(f"mfcc{i}_mean") for i in range(20)] + [
        column(f"chroma{i}_mean") for i in range(12)
    ]
    np.testing.assert_allclose(result.features[:, robust], direct[:, robust], atol=0.05)
    silent_video = tmp_path / "silent.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=red:s=64x36:d=2",
            "-c:v",
            "libx264",
            str(silent_video),
        ],
        check=True,
    )
    with pytest.raises(NoAudioStreamError):
        extract_file(silent_video, "handcrafted", "audio")
