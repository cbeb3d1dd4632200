"""The VM-Net loss: two cross-modal and two intra-modal triplet terms (docs/method.md §4).

``L = l1 L_VM + l2 L_MV + l3 L_VV + l4 L_MM``

- ``L_VM``: anchor a video, positive its own music, negative another clip's music.
- ``L_MV``: the reverse (anchor a music item, positive its own video).
- ``L_VV``, ``L_MM`` (soft intra-modal structure): triplets inside one modality, drawn
  from three different clips so that the anchor's *input features* are closer to the
  positive's than to the negative's; the loss keeps that order in the embedding space.

All four terms take index :class:`~ml.losses.triplet.Triplets` into the rows of the
batch's music and video embeddings; the miners (:mod:`ml.miners`) produce them.
Seg-VM-Net is the special case ``l1 = l2 = 1``, ``l3 = l4 = 0``, margin 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ml.losses.triplet import Triplets, triplet_loss

__all__ = ["SEGVMNET_WEIGHTS", "VMNetLossTerms", "VMNetLossWeights", "VMNetTriplets", "vmnet_loss"]


@dataclass(frozen=True)
class VMNetLossWeights:
    """The four term weights and the triplet margin."""

    video_to_music: float = 1.0  # l1, L_VM
    music_to_video: float = 1.0  # l2, L_MV
    video_video: float = 0.0  # l3, L_VV
    music_music: float = 0.0  # l4, L_MM
    margin: float = 0.1

    def __post_init__(self) -> None:
        weights = (self.video_to_music, self.music_to_video, self.video_video, self.music_music)
        if any(w < 0 for w in weights) or not any(w > 0 for w in weights):
            raise ValueError(f"weights must be non-negative and not all zero: {weights}")
        if self.margin < 0:
            raise ValueError(f"margin must be non-negative, got {self.margin}")

    @property
    def uses_intra_modal(self) -> bool:
        return self.video_video > 0 or self.music_music > 0


SEGVMNET_WEIGHTS = VMNetLossWeights(1.0, 1.0, 0.0, 0.0, margin=0.1)


@dataclass(frozen=True)
class VMNetTriplets:
    """Index triplets for each term; a term with weight 0 may have None."""

    video_to_music: Triplets  # anchor: video row, positive/negative: music rows
    music_to_video: Triplets  # anchor: music row, positive/negative: video rows
    video_video: Triplets | None = None
    music_music: Triplets | None = None


@dataclass(frozen=True)
class VMNetLossTerms:
    """The weighted total (for backward) and each unweighted term (for logging)."""

    total: torch.Tensor
    video_to_music: torch.Tensor
    music_to_video: torch.Tensor
    video_video: torch.Tensor
    music_music: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {
            "loss": float(self.total.detach()),
            "loss_vm": float(self.video_to_music.detach()),
            "loss_mv": float(self.music_to_video.detach()),
            "loss_vv": float(self.video_video.detach()),
            "loss_mm": float(self.music_music.detach()),
        }


def _term(
    anchors: torch.Tensor, others: torch.Tensor, triplets: Triplets | None, margin: float
) -> torch.Tensor:
    if triplets is None or len(triplets) == 0:
        return anchors.new_zeros(())
    t = triplets.to(anchors.device)
    return triplet_loss(anchors[t.anchor], others[t.positive], others[t.negative], margin)


def vmnet_loss(
    music: torch.Tensor,
    video: torch.Tensor,
    triplets: VMNetTriplets,
    weights: VMNetLossWeights = SEGVMNET_WEIGHTS,
) -> VMNetLossTerms:
    """Weighted VM-Net loss for one batch of ``music`` and ``video`` embeddings (N, d).

    Raises ValueError when a term has a positive weight but no triplets: a silently
    missing term would train a different model than the one configured.
    """
    if music.dim() != 2 or video.dim() != 2 or music.shape[1] != video.shape[1]:
        raise ValueError(
            f"expected two (N, d) embedding matrices, got {tuple(music.shape)}, {tuple(video.shape)}"
        )
    for name, weight, term in (
        ("video_video", weights.video_video, triplets.video_video),
        ("music_music", weights.music_music, triplets.music_music),
    ):
        if weight > 0 and term is None:
            raise ValueError(f"weight of {name} is {weight} but no {name} triplets were mined")
    vm = _term(video, music, triplets.video_to_music, weights.margin)
    mv = _term(music, video, triplets.music_to_video, weights.margin)
    vv = _term(video, video, triplets.video_video, weights.margin)
    mm = _term(music, music, triplets.music_music, weights.margin)
    total = (
        weights.video_to_music * vm
        + weights.music_to_video * mv
        + weights.video_video * vv
        + weights.music_music * mm
    )
    return VMNetLossTerms(total, vm, mv, vv, mm)
