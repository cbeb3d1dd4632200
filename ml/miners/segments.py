"""Segment-level triplet mining for Seg-VM-Net and VM-Net (docs/method.md §4).

Rows ``i`` of a batch are paired items: ``music[i]`` and ``video[i]`` come from the
same segment (same clip, same time) - or the same clip at clip level. The rules:

- positive of an anchor = the other modality of the *same* row;
- negatives = the other modality of any row whose clip differs from the anchor's.
  Rows of the anchor's own clip are never negatives, at any time: the published
  experiments found that same-clip negatives did not help, and repeated sections
  (a chorus that comes back) would make them false negatives.

Two strategies pick among the allowed negatives:

- ``"random"``: uniformly at random (the published choice);
- ``"semihard"``: the closest negative that is still farther than the positive
  (``d_ap < d_an < d_ap + margin``, FaceNet), falling back to a random allowed
  negative when no such one exists; needs the current embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ml.losses.triplet import Triplets

__all__ = ["MINING_STRATEGIES", "MiningError", "SegmentTripletMiner", "random_other_clip_indices"]

MINING_STRATEGIES = ("random", "semihard")


class MiningError(ValueError):
    """The batch cannot yield the requested triplets (e.g. every row is one clip)."""


def _as_clip_ids(clip_ids: np.ndarray | torch.Tensor) -> np.ndarray:
    ids = np.asarray(clip_ids.cpu() if isinstance(clip_ids, torch.Tensor) else clip_ids)
    if ids.ndim != 1:
        raise MiningError(f"clip_ids must be one-dimensional, got shape {ids.shape}")
    if np.unique(ids).size < 2:
        raise MiningError("need rows from at least two clips to draw a negative")
    return ids


def random_other_clip_indices(
    clip_ids: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each anchor row, a uniformly random row of a different clip.

    Exact (not approximate) uniformity over the allowed rows: draw among the rows
    that are not the anchor's clip by sampling a rank and mapping it past the
    anchor's clip in a clip-sorted order.
    """
    order = np.argsort(clip_ids, kind="stable")
    sorted_ids = clip_ids[order]
    start = np.searchsorted(sorted_ids, clip_ids[anchors], side="left")
    stop = np.searchsorted(sorted_ids, clip_ids[anchors], side="right")
    n_allowed = len(clip_ids) - (stop - start)
    rank = (rng.random(len(anchors)) * n_allowed).astype(np.int64)
    rank = np.minimum(rank, n_allowed - 1)
    # Ranks at or past the anchor's clip block skip over it.
    position = np.where(rank < start, rank, rank + (stop - start))
    return order[position]


def _semihard_indices(
    anchor_emb: torch.Tensor,
    other_emb: torch.Tensor,
    clip_ids: np.ndarray,
    anchors: np.ndarray,
    margin: float,
    rng: np.random.Generator,
) -> np.ndarray:
    with torch.no_grad():
        rows = torch.as_tensor(anchors, device=anchor_emb.device)
        d = torch.cdist(anchor_emb[rows].float(), other_emb.float()).pow(2)  # (A, N)
        d_ap = d[torch.arange(len(anchors), device=d.device), rows].unsqueeze(1)
        ids = torch.as_tensor(clip_ids, device=d.device)
        allowed = ids.unsqueeze(0) != ids[rows].unsqueeze(1)
        semihard = allowed & (d > d_ap) & (d < d_ap + margin)
        candidate = torch.where(semihard, d, torch.full_like(d, float("inf")))
        best = candidate.argmin(dim=1).cpu().numpy()
        found = semihard.any(dim=1).cpu().numpy()
    fallback = random_other_clip_indices(clip_ids, anchors, rng)
    return np.where(found, best, fallback)


@dataclass(frozen=True)
class SegmentTripletMiner:
    """Mines the two cross-modal triplet sets of a batch (video->music, music->video)."""

    strategy: str = "random"
    negatives_per_anchor: int = 1
    margin: float = 0.1

    def __post_init__(self) -> None:
        if self.strategy not in MINING_STRATEGIES:
            raise ValueError(
                f"unknown mining strategy {self.strategy!r}; expected one of {MINING_STRATEGIES}"
            )
        if self.negatives_per_anchor < 1:
            raise ValueError("negatives_per_anchor must be at least 1")

    def mine(
        self,
        clip_ids: np.ndarray | torch.Tensor,
        rng: np.random.Generator,
        music: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
    ) -> tuple[Triplets, Triplets]:
        """Return ``(video_to_music, music_to_video)`` index triplets for the batch.

        ``video_to_music``: anchor = video row, positive = music of the same row,
        negative = music of a row of another clip; ``music_to_video`` the reverse.
        The semihard strategy needs the batch embeddings ``music`` and ``video``.
        """
        ids = _as_clip_ids(clip_ids)
        anchors = np.repeat(np.arange(len(ids)), self.negatives_per_anchor)
        if self.strategy == "random":
            neg_music = random_other_clip_indices(ids, anchors, rng)
            neg_video = random_other_clip_indices(ids, anchors, rng)
        else:
            if music is None or video is None:
                raise MiningError("semihard mining needs the batch's music and video embeddings")
            if len(music) != len(ids) or len(video) != len(ids):
                raise MiningError("embeddings and clip_ids differ in length")
            neg_music = _semihard_indices(video, music, ids, anchors, self.margin, rng)
            neg_video = _semihard_indices(music, video, ids, anchors, self.margin, rng)
        return Triplets(anchors, anchors, neg_music), Triplets(anchors, anchors, neg_video)
