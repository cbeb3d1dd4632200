"""The registered ``musicnn`` extractor: preprocessing, the 1 Hz patch grid, outputs
on synthetic sounds and a decoded file, and its errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from ml.features import FeatureInputError, get_extractor
from ml.features.from_file import extract_file
from ml.features.musicnn import extractor as musicnn_extractor
from ml.features.musicnn.extractor import (
    MSD_TAGS,
    MTT_TAGS,
    PATCH_FRAMES,
    SAMPLE_RATE,
    TAG_NAMES,
    MusicnnModel,
    MusicnnWeightsNotFoundError,
    log_mel_spectrogram,
    patch_starts,
    patches_per_second,
)

SR = SAMPLE_RATE


@pytest.fixture(scope="module")
def registered():
    return get_extractor("musicnn", "audio")


def test_registered_with_its_identity(registered):
    assert registered.spec.key == "audio/musicnn@msd-1"
    assert registered.dim == 200 and registered.sample_rate == 16000
    assert registered.network.model == "MSD_musicnn"


def test_log_mel_matches_the_original_float16_recipe():
    t = np.arange(SR) / SR
    y = (0.05 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, hop_length=256, n_mels=96,
                                         pad_mode="reflect").T.astype(np.float16)  # fmt: skip
    original = np.log10(10000 * mel + 1)  # musicnn.extractor.batch_data, finite here
    assert np.isfinite(original).all()
    ours = log_mel_spectrogram(y)
    assert ours.dtype == np.float32 and ours.shape == (1 + SR // 256, 96)
    np.testing.assert_array_equal(ours, original.astype(np.float32))
    assert np.all(log_mel_spectrogram(np.zeros(SR, np.float32)) == 0)  # silence is 0


def test_log_mel_stays_finite_where_the_original_overflows():
    t = np.arange(SR) / SR
    loud = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    log_mel = log_mel_spectrogram(loud)
    assert np.isfinite(log_mel).all()
    assert log_mel.max() > np.log10(65504.0)  # beyond what float16 could hold before the log


def test_patches_are_centred_on_each_second_and_shifted_inside_at_the_edges():
    frames_per_s = SR / 256
    starts = patch_starts(n_frames=20 * 63, n_rows=20)
    middle = np.arange(3, 17)
    np.testing.assert_array_equal(
        starts[middle], np.round((middle + 0.5) * frames_per_s).astype(int) - PATCH_FRAMES // 2
    )
    assert starts[0] == 0 and starts[-1] == 20 * 63 - PATCH_FRAMES
    assert np.all(np.diff(starts) >= 0)
    # A signal shorter than a patch is repeated to fill one.
    short = np.arange(50 * 96, dtype=np.float32).reshape(50, 96)
    (patch,) = patches_per_second(short, 1)
    np.testing.assert_array_equal(patch[50:100], short)


@pytest.mark.parametrize("duration_s", [1.2, 4.3, 9.5])
def test_one_row_per_second(registered, drums, pad, duration_s):
    y = np.concatenate([drums, pad])[: int(duration_s * SR)]
    features = registered.extract(y, SR)
    assert features.shape == (int(np.ceil(duration_s)), 200)
    assert features.dtype == np.float32 and np.isfinite(features).all()


def test_other_rates_are_resampled(registered, pad):
    import librosa

    y = librosa.resample(pad[: 3 * SR], orig_sr=SR, target_sr=22050)
    at_16k = registered.extract(pad[: 3 * SR], SR)
    at_22k = registered.extract(y, 22050)
    assert at_22k.shape == at_16k.shape == (3, 200)
    cosine = (
        np.sum(at_16k * at_22k, 1) / np.linalg.norm(at_16k, axis=1) / np.linalg.norm(at_22k, axis=1)
    )
    assert np.all(cosine > 0.95)


def test_very_different_sounds_get_different_features(registered, drums, pad):
    f_drums, f_pad = registered.extract(drums, SR), registered.extract(pad, SR)
    between = np.linalg.norm(f_drums.mean(0) - f_pad.mean(0))
    within = max(np.linalg.norm(f - f.mean(0), axis=1).mean() for f in (f_drums, f_pad))
    assert between > 2 * within


@pytest.mark.slow
def test_tags_tell_drums_from_a_pad(mtt_extractor, drums, pad):
    """Weak sanity check with the MagnaTagATune model's tags."""
    tags = mtt_extractor.network.tags
    _, tags_drums = mtt_extractor.extract_with_tags(drums, SR)
    _, tags_pad = mtt_extractor.extract_with_tags(pad, SR)
    drums_mean, pad_mean = tags_drums.mean(0), tags_pad.mean(0)
    top_drums = {tags[i] for i in np.argsort(-drums_mean)[:3]}
    top_pad = {tags[i] for i in np.argsort(-pad_mean)[:3]}
    assert top_drums & {"drums", "beat", "beats", "techno"}
    assert top_pad & {"ambient", "slow", "quiet", "soft", "new age"}
    percussive = [tags.index(t) for t in ("drums", "beat")]
    calm = [tags.index(t) for t in ("ambient", "slow", "quiet")]
    assert drums_mean[percussive].sum() > 2 * pad_mean[percussive].sum()
    assert pad_mean[calm].sum() > 2 * drums_mean[calm].sum()


def test_extract_file_decodes_at_16k(registered, drums, tmp_path):
    path = tmp_path / "drums.ogg"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "1",
           "-i", "pipe:0", "-c:a", "libvorbis", str(path)]  # fmt: skip
    subprocess.run(cmd, input=drums[: int(2.5 * SR)].tobytes(), check=True, capture_output=True)
    result = extract_file(path, "musicnn", "audio")
    assert result.spec == registered.spec
    assert result.features.shape == (3, 200)
    np.testing.assert_allclose(
        result.features, registered.extract(drums[: int(2.5 * SR)], SR), atol=0.5
    )


@pytest.mark.parametrize(
    "y, sr, match",
    [
        (np.zeros((2, SR), np.float32), SR, "mono"),
        (np.zeros(0, np.float32), SR, "empty"),
        (np.zeros(SR, np.int16), SR, "floating"),
        (np.full(SR, np.nan, np.float32), SR, "NaN"),
        (np.zeros(SR, np.float32), 0, "positive"),
    ],
)
def test_bad_input_raises_feature_input_error(registered, y, sr, match):
    with pytest.raises(FeatureInputError, match=match):
        registered.extract(y, sr)


def test_missing_checkpoint_raises_a_clear_error(tmp_path):
    with pytest.raises(MusicnnWeightsNotFoundError, match="pip install --no-deps"):
        MusicnnModel("MSD_musicnn", weights_dir=tmp_path)
    (tmp_path / "MSD_musicnn").mkdir()
    (tmp_path / "MSD_musicnn" / ".index").write_bytes(b"")
    with pytest.raises(MusicnnWeightsNotFoundError, match="data-00000-of-00001"):
        MusicnnModel("MSD_musicnn", weights_dir=tmp_path)
    assert issubclass(MusicnnWeightsNotFoundError, FileNotFoundError)


def test_missing_package_raises_a_clear_error(monkeypatch):
    real_find_spec = musicnn_extractor.importlib.util.find_spec
    monkeypatch.setattr(musicnn_extractor.importlib.util, "find_spec",
                        lambda name: None if name == "musicnn" else real_find_spec(name))  # fmt: skip
    with pytest.raises(MusicnnWeightsNotFoundError, match="not installed"):
        MusicnnModel()


def test_unknown_model_and_options_are_refused():
    with pytest.raises(ValueError, match="MSD_vgg"):
        MusicnnModel("MSD_vgg")
    with pytest.raises(ValueError, match="backend"):
        MusicnnModel(backend="tensorflow")


def test_onnx_export_is_cached_by_checkpoint_digest(msd_model, onnx_cache_dir):
    path = msd_model.onnx_path()
    assert path.parent == Path(onnx_cache_dir)
    assert msd_model.weights_digest in path.name
    again = MusicnnModel("MSD_musicnn", cache_dir=onnx_cache_dir)
    assert again.onnx_path() == path
    assert not list(Path(onnx_cache_dir).glob(".*partial"))


def test_extract_tagged_gives_the_mean_taggrams_of_both_vocabularies(registered, drums):
    """The track's tags are the mean over its seconds of the MSD taggram of the same
    pass, then the MTT tags the MSD lacks, from every third patch (non-overlapping 3 s
    steps); the features are :meth:`extract`'s."""
    features, tags = registered.extract_tagged(drums, SR)
    same_features, taggram = registered.extract_with_tags(drums, SR)
    np.testing.assert_array_equal(features, same_features)
    assert tags.names == TAG_NAMES == registered.tag_names
    assert tags.names[:50] == MSD_TAGS and {"strings", "piano", "violin"} <= set(tags.names)
    assert len(tags.names) == 50 + len(set(MTT_TAGS) - set(MSD_TAGS))
    np.testing.assert_allclose(tags.confidences[:50], taggram.mean(axis=0), rtol=1e-6)
    patches = patches_per_second(log_mel_spectrogram(drums), features.shape[0])[::3]
    mtt, _ = registered.instruments.predict(patches)
    column = {name: i for i, name in enumerate(MTT_TAGS)}
    expected = [mtt[:, column[name]].mean() for name in tags.names[50:]]
    np.testing.assert_allclose(tags.confidences[50:], expected, rtol=1e-5)
    assert tags.source == registered.tags_source == "audio/musicnn@msd+mtt-1"


def test_a_concatenation_passes_on_its_tagging_part_tags(registered, drums):
    both = get_extractor("handcrafted+musicnn", "audio")
    features, tags = both.extract_tagged(drums, SR)
    assert features.shape[1] == both.dim
    np.testing.assert_allclose(
        tags.confidences, registered.extract_tagged(drums, SR)[1].confidences, rtol=1e-6
    )
