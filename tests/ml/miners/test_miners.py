"""Segment mining rules: positive = same row, negatives never from the anchor's clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.miners.segments import MiningError, SegmentTripletMiner, random_other_clip_indices
from ml.miners.structure import mine_intra_modal_triplets

CLIPS = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4])


@pytest.mark.parametrize("strategy", ["random", "semihard"])
def test_cross_modal_rules(strategy):
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    music = torch.nn.functional.normalize(torch.randn(len(CLIPS), 4, generator=generator), dim=1)
    video = torch.nn.functional.normalize(torch.randn(len(CLIPS), 4, generator=generator), dim=1)
    miner = SegmentTripletMiner(strategy, negatives_per_anchor=3, margin=0.5)
    for _ in range(20):
        for t in miner.mine(CLIPS, rng, music, video):
            assert len(t) == 3 * len(CLIPS)
            assert torch.equal(t.anchor, t.positive)  # the other modality of the same segment
            anchors, negatives = t.anchor.numpy(), t.negative.numpy()
            assert np.all(CLIPS[negatives] != CLIPS[anchors])


def test_random_negatives_cover_every_allowed_row_uniformly():
    rng = np.random.default_rng(1)
    anchors = np.zeros(20000, dtype=np.int64)  # clip 0: rows 0-2 are forbidden
    counts = np.bincount(random_other_clip_indices(CLIPS, anchors, rng), minlength=len(CLIPS))
    assert counts[:3].sum() == 0
    allowed = counts[3:]
    assert allowed.min() > 0
    expected = len(anchors) / len(allowed)
    assert np.all(np.abs(allowed - expected) < 5 * np.sqrt(expected))


def test_semihard_negatives_lie_in_the_margin_band_when_one_exists():
    # Anchor video 0 = music 0 direction; music rows at growing distance.
    video = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    angles = torch.tensor([0.3, 0.5, 0.9, 3.0])
    music = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    clips = np.array([0, 1, 2, 3])
    d = ((video[0] - music) ** 2).sum(dim=1)  # d_ap = d[0]
    vm, _ = SegmentTripletMiner("semihard", margin=0.5).mine(
        clips, np.random.default_rng(0), music, video
    )
    chosen = int(vm.negative[0])
    assert d[0] < d[chosen] < d[0] + 0.5
    band = [j for j in (1, 2, 3) if d[0] < d[j] < d[0] + 0.5]
    assert chosen == min(band, key=lambda j: d[j])


def test_mining_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(MiningError, match="two clips"):
        SegmentTripletMiner().mine(np.zeros(5, dtype=int), rng)
    with pytest.raises(MiningError, match="embeddings"):
        SegmentTripletMiner("semihard").mine(CLIPS, rng)
    with pytest.raises(ValueError, match="strategy"):
        SegmentTripletMiner("hardest-ever")


def test_intra_modal_triplets_come_from_three_clips_and_respect_input_order():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(CLIPS), 5))
    t = mine_intra_modal_triplets(features, CLIPS, rng, n_triplets=200)
    assert 190 <= len(t) <= 200
    a, p, n = t.anchor.numpy(), t.positive.numpy(), t.negative.numpy()
    assert np.all(CLIPS[a] != CLIPS[p]) and np.all(CLIPS[a] != CLIPS[n])
    assert np.all(CLIPS[p] != CLIPS[n])
    d_ap = ((features[a] - features[p]) ** 2).sum(axis=1)
    d_an = ((features[a] - features[n]) ** 2).sum(axis=1)
    assert np.all(d_ap < d_an)


def test_intra_modal_needs_three_clips():
    with pytest.raises(MiningError, match="three clips"):
        mine_intra_modal_triplets(
            np.zeros((4, 2)), np.array([0, 0, 1, 1]), np.random.default_rng(0)
        )
