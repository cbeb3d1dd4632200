"""The two-branch model and the pooling layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.models.pooling import AttentionPooling, AutoPooling, MeanPooling, sample_frame_indices
from ml.models.vmnet import (
    BranchConfig,
    TwoBranchConfig,
    TwoBranchNet,
    segvmnet_config,
    vmnet_config,
)


def test_published_widths_and_unit_norm_outputs():
    torch.manual_seed(0)
    model = TwoBranchNet(segvmnet_config(music_dim=40, video_dim=30)).eval()
    widths = [m.out_features for m in model.music.mlp if isinstance(m, torch.nn.Linear)]
    assert widths == [2048, 1024, 512]
    widths = [m.out_features for m in model.video.mlp if isinstance(m, torch.nn.Linear)]
    assert widths == [2048, 512]
    music, video = model(torch.randn(7, 40), torch.randn(7, 30))
    assert music.shape == (7, 512) and video.shape == (7, 512)
    np.testing.assert_allclose(music.norm(dim=1).detach(), 1.0, atol=1e-5)
    np.testing.assert_allclose(video.norm(dim=1).detach(), 1.0, atol=1e-5)


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = TwoBranchNet(segvmnet_config(8, 6, embedding_dim=4, music_hidden=(32,)))
    x = torch.randn(5, 8)
    model.eval()
    assert torch.equal(model.embed_music(x), model.embed_music(x))
    model.train()
    assert not torch.equal(model.embed_music(x), model.embed_music(x))


def test_normalisation_statistics_are_part_of_the_state():
    rng = np.random.default_rng(0)
    music = rng.normal(5.0, 3.0, size=(200, 8))
    video = rng.normal(-2.0, 0.5, size=(200, 6))
    model = TwoBranchNet(segvmnet_config(8, 6, embedding_dim=4))
    model.fit_normalization(music, video)
    normalised = model.music.normalizer(torch.as_tensor(music, dtype=torch.float32))
    np.testing.assert_allclose(normalised.mean(dim=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(dim=0), 1.0, atol=1e-3)
    state = model.state_dict()
    assert "music.normalizer.mean" in state and "video.normalizer.std" in state
    clone = TwoBranchNet(model.config)
    clone.load_state_dict(state)
    assert torch.equal(clone.video.normalizer.mean, model.video.normalizer.mean)


def test_constant_input_dimension_is_left_unscaled():
    x = np.random.default_rng(1).normal(size=(50, 3))
    x[:, 1] = 7.0
    model = TwoBranchNet(segvmnet_config(3, 3, embedding_dim=2))
    model.fit_normalization(x, x)
    out = model.music.normalizer(torch.as_tensor(x, dtype=torch.float32))
    assert torch.isfinite(out).all()
    assert torch.allclose(out[:, 1], torch.zeros(50))


def test_pooled_vmnet_takes_sequences():
    model = TwoBranchNet(
        vmnet_config(10, 12, embedding_dim=8, music_hidden=(16,), pooling="attention")
    )
    model.eval()
    out = model.embed_video(torch.randn(3, 25, 12))
    assert out.shape == (3, 8)
    with pytest.raises(ValueError, match="batch, time, dim"):
        model.embed_video(torch.randn(3, 12))


def test_wrong_input_width_is_a_value_error():
    model = TwoBranchNet(segvmnet_config(10, 12, embedding_dim=8))
    with pytest.raises(ValueError, match="dim=10"):
        model.embed_music(torch.randn(4, 11))


def test_config_round_trip_and_validation():
    config = vmnet_config(10, 12, embedding_dim=8, pooling="auto")
    assert TwoBranchConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="same space"):
        TwoBranchConfig("segvmnet", BranchConfig(4, (8,), 16), BranchConfig(4, (8,), 32))
    with pytest.raises(ValueError, match="pooling"):
        TwoBranchConfig(
            "segvmnet", BranchConfig(4, (8,), 16, pooling="auto"), BranchConfig(4, (8,), 16)
        )
    with pytest.raises(ValueError, match="dropout"):
        BranchConfig(4, (8,), 16, dropout=1.0)
    with pytest.raises(ValueError, match="kind"):
        TwoBranchConfig("musimnet", BranchConfig(4, (8,), 16), BranchConfig(4, (8,), 16))


def test_attention_and_auto_pooling_start_as_mean_pooling():
    x = torch.randn(2, 9, 5)
    expected = x.mean(dim=1)
    assert torch.allclose(AttentionPooling(5)(x), expected, atol=1e-6)
    assert torch.allclose(AutoPooling(5)(x), expected, atol=1e-6)
    assert torch.allclose(MeanPooling()(x), expected)


def test_auto_pooling_interpolates_towards_max():
    pool = AutoPooling(4)
    # Values one apart: with alpha = 200 the runner-up frame weighs e^-200.
    generator = torch.Generator().manual_seed(0)
    x = torch.stack([torch.randperm(11, generator=generator) for _ in range(12)]).float()
    x = x.reshape(3, 4, 11).transpose(1, 2)
    with torch.no_grad():
        pool.alpha.fill_(200.0)
    assert torch.allclose(pool(x), x.max(dim=1).values, atol=1e-5)
    with torch.no_grad():
        pool.alpha.fill_(-200.0)
    assert torch.allclose(pool(x), x.min(dim=1).values, atol=1e-5)


def test_attention_weights_are_bounded_by_tanh():
    pool = AttentionPooling(1)
    with torch.no_grad():
        pool.score.weight.fill_(1000.0)
    x = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]])
    # tanh saturates at 1: the loud frame gets e^1 / (e^1 + 3 e^0), not all the weight.
    assert pool(x).item() == pytest.approx(np.e / (np.e + 3.0), rel=1e-4)


def test_pooling_ignores_masked_frames():
    x = torch.randn(2, 6, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    for pool in (MeanPooling(), AttentionPooling(3), AutoPooling(3)):
        out = pool(x, mask)
        assert torch.allclose(out[0], pool(x[:1, :3])[0], atol=1e-6)
        assert torch.allclose(out[1], pool(x[1:])[0], atol=1e-6)


def test_frame_sampling():
    rng = np.random.default_rng(0)
    picks = sample_frame_indices(300, 100, rng)
    assert len(picks) == 100 and len(set(picks.tolist())) == 100
    assert np.all(np.diff(picks) > 0)
    short = sample_frame_indices(7, 100, rng)
    assert len(short) == 100 and set(short.tolist()) <= set(range(7))
    with pytest.raises(ValueError):
        sample_frame_indices(0, 100, rng)
