"""Triplet loss and the VM-Net loss against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from ml.losses.triplet import Triplets, triplet_loss
from ml.losses.vmnet import SEGVMNET_WEIGHTS, VMNetLossWeights, VMNetTriplets, vmnet_loss


def test_triplet_loss_hand_computed():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 0.1]])
    n = torch.tensor([[0.0, 0.5], [3.0, 0.0]])
    # d_ap = 1, 0.01 ; d_an = 0.25, 9 ; hinge(d_ap - d_an + 0.1) = 0.85, 0
    per = triplet_loss(a, p, n, margin=0.1, reduction="none")
    assert per.tolist() == pytest.approx([0.85, 0.0])
    assert triplet_loss(a, p, n, margin=0.1).item() == pytest.approx(0.425)
    assert triplet_loss(a, p, n, margin=0.1, reduction="sum").item() == pytest.approx(0.85)


def test_triplet_loss_rejects_bad_arguments():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(x, x, x, margin=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        triplet_loss(x, x, x, reduction="max")
    with pytest.raises(ValueError, match="shapes"):
        triplet_loss(x, torch.zeros(3, 3), x)
    with pytest.raises(ValueError, match="length"):
        Triplets([0, 1], [0], [1, 0])


def test_empty_triplets_give_zero():
    x = torch.zeros(0, 3)
    assert triplet_loss(x, x, x).item() == 0.0


def _unit(rows):
    t = torch.tensor(rows, dtype=torch.float32)
    return t / t.norm(dim=1, keepdim=True)


def test_vmnet_loss_combines_the_four_weighted_terms():
    music = _unit([[1, 0], [0, 1], [1, 1]])
    video = _unit([[1, 0.2], [0.2, 1], [-1, 1]])
    cross = Triplets([0, 1, 2], [0, 1, 2], [1, 2, 0])
    intra = Triplets([0], [2], [1])

    def by_hand(anchors, others, t):
        return triplet_loss(anchors[t.anchor], others[t.positive], others[t.negative], 0.2)

    weights = VMNetLossWeights(1.0, 2.0, 0.5, 0.25, margin=0.2)
    terms = vmnet_loss(music, video, VMNetTriplets(cross, cross, intra, intra), weights)
    vm, mv = by_hand(video, music, cross), by_hand(music, video, cross)
    vv, mm = by_hand(video, video, intra), by_hand(music, music, intra)
    assert terms.video_to_music.item() == pytest.approx(vm.item())
    assert terms.music_to_video.item() == pytest.approx(mv.item())
    assert terms.video_video.item() == pytest.approx(vv.item())
    assert terms.music_music.item() == pytest.approx(mm.item())
    assert terms.total.item() == pytest.approx((vm + 2 * mv + 0.5 * vv + 0.25 * mm).item())
    assert terms.video_to_music.item() != terms.music_to_video.item()  # the terms are distinct


def test_segvmnet_weights_ignore_intra_modal_terms_and_missing_ones_are_errors():
    music, video = _unit([[1, 0], [0, 1]]), _unit([[1, 0], [0, 1]])
    cross = Triplets([0, 1], [0, 1], [1, 0])
    terms = vmnet_loss(music, video, VMNetTriplets(cross, cross), SEGVMNET_WEIGHTS)
    assert terms.total.item() == pytest.approx(0.0)  # perfectly paired: d_ap 0, d_an 2
    with pytest.raises(ValueError, match="music_music"):
        vmnet_loss(music, video, VMNetTriplets(cross, cross), VMNetLossWeights(1, 1, 0, 0.5))
    with pytest.raises(ValueError, match="not all zero"):
        VMNetLossWeights(0, 0, 0, 0)
