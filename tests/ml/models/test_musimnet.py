"""MuSimNet: architecture, shapes, unit-norm embeddings, input statistics, CQT input."""

import numpy as np
import pytest
import torch

from ml.features.cqt import (
    FLOOR_DB,
    HOP_LENGTH,
    N_BINS,
    SAMPLE_RATE,
    CQTError,
    frames_to_seconds,
    log_cqt,
    random_patches,
)
from ml.models.musimnet import (
    MuSimNet,
    MuSimNetConfig,
    embed_track,
    embed_tracks,
    input_statistics,
)

TINY = (4, 8, 8, 16, 16)


def test_published_architectures_reduce_a_patch_as_described():
    vgg = MuSimNetConfig("vgg")
    assert vgg.filters == (128, 256, 512, 1024, 2048)
    assert vgg.pools == ((2, 4), (2, 4), (2, 4), (3, 3), (4, 2))
    assert vgg.output_grid == (1, 1)
    auto = MuSimNetConfig("autopool")
    assert auto.filters == (64, 128, 256, 512, 1024)
    assert auto.output_grid == (1, 32)  # 32 time steps kept for auto-pooling
    assert vgg.embedding_dim == auto.embedding_dim == 128
    assert (vgg.n_bins, vgg.patch_frames) == (96, 512)


@pytest.mark.parametrize("variant", ["vgg", "autopool"])
def test_tiny_forward_shapes_and_unit_norm(variant):
    torch.manual_seed(0)
    model = MuSimNet(MuSimNetConfig(variant, filters=TINY, embedding_dim=12)).eval()
    patches = torch.randn(5, N_BINS, 512) * 10 - 40
    out = model(patches)
    assert out.shape == (5, 12)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(5))
    steps = model.frame_embeddings(patches)
    assert steps.shape == (5, 32 if variant == "autopool" else 1, 12)


def test_autopool_variant_pools_over_time_with_a_learned_parameter():
    model = MuSimNet(MuSimNetConfig("autopool", filters=TINY, embedding_dim=8))
    assert model.autopool is not None
    assert any(name.startswith("autopool.") for name, _ in model.named_parameters())
    assert MuSimNet(MuSimNetConfig("vgg", filters=TINY)).autopool is None


def test_input_statistics_are_buffers_applied_before_the_network():
    cqts = [
        np.random.default_rng(i).normal(-40, 7, (N_BINS, 300)).astype(np.float32) for i in range(3)
    ]
    mean, std = input_statistics(cqts)
    assert mean.shape == std.shape == (N_BINS,)
    frames = np.concatenate(cqts, axis=1).astype(np.float64)
    np.testing.assert_allclose(mean, frames.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(std, frames.std(axis=1), rtol=1e-4)
    torch.manual_seed(0)
    model = MuSimNet(MuSimNetConfig("autopool", filters=TINY, embedding_dim=8)).eval()
    model.set_input_statistics(mean, std)
    assert {"input_mean", "input_std"} <= set(model.state_dict())
    # Shifting the input by the stored mean shift gives the same output.
    x = torch.from_numpy(random_patches(cqts[0], 2, 512, np.random.default_rng(0)))
    reference = model(x)
    model.set_input_statistics(mean + 10.0, std)
    torch.testing.assert_close(model(x + 10.0), reference)
    with pytest.raises(ValueError):
        model.set_input_statistics(mean, np.zeros(N_BINS))


def test_embed_track_is_the_mean_of_eight_patch_embeddings():
    torch.manual_seed(0)
    model = MuSimNet(MuSimNetConfig("autopool", filters=TINY, embedding_dim=8))
    cqt = np.random.default_rng(0).normal(-40, 7, (N_BINS, 900)).astype(np.float32)
    embedding = embed_track(model, cqt, seed=3)
    patches = random_patches(cqt, 8, 512, np.random.default_rng(3))
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(patches)).numpy().mean(axis=0)
    np.testing.assert_allclose(embedding, expected, atol=1e-6)
    assert np.linalg.norm(embedding) <= 1.0 + 1e-6
    np.testing.assert_allclose(embed_tracks(model, [cqt, cqt], seed=3)[0], embedding, atol=1e-6)


def test_bad_configs_and_inputs_raise():
    with pytest.raises(ValueError):
        MuSimNetConfig("resnet")
    with pytest.raises(ValueError):
        MuSimNetConfig("vgg", filters=(4, 8))  # five pools, two filter counts
    with pytest.raises(ValueError):
        MuSimNetConfig("vgg", patch_frames=128)  # the VGG pools need 384+ frames
    model = MuSimNet(MuSimNetConfig("autopool", filters=TINY))
    with pytest.raises(ValueError):
        model(torch.zeros(2, N_BINS, 100))


def test_log_cqt_puts_a_tone_in_its_semitone_bin():
    t = np.arange(int(2.0 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    cqt = log_cqt(tone, SAMPLE_RATE)
    assert cqt.shape == (N_BINS, 1 + len(tone) // HOP_LENGTH) and cqt.dtype == np.float32
    # A4 is 3 octaves and 9 semitones above C1.
    assert int(np.argmax(cqt[:, cqt.shape[1] // 2])) == 45
    # The same tone at 22.05 kHz is resampled onto the same grid.
    half_rate = log_cqt(tone[::2].astype(np.float32), SAMPLE_RATE // 2)
    assert half_rate.shape == cqt.shape
    assert int(np.argmax(half_rate[:, cqt.shape[1] // 2])) == 45
    assert log_cqt(np.zeros(SAMPLE_RATE), SAMPLE_RATE).min() == FLOOR_DB
    assert frames_to_seconds(512) == pytest.approx(11.89, abs=0.01)


def test_short_tracks_are_padded_with_silence_and_bad_audio_raises():
    cqt = np.zeros((N_BINS, 100), dtype=np.float32)
    patches = random_patches(cqt, 2, 512)
    assert patches.shape == (2, N_BINS, 512)
    assert (patches[:, :, 100:] == FLOOR_DB).all() and (patches[:, :, :100] == 0).all()
    for bad in (np.zeros((2, 100)), np.array([]), np.array([0.0, np.nan])):
        with pytest.raises(CQTError):
            log_cqt(bad, SAMPLE_RATE)
