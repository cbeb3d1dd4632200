"""Intra-modal structure triplets for VM-Net's L_VV and L_MM (docs/method.md §4).

Three rows from three *different* clips of one modality; the one whose input
features are closer to the anchor becomes the positive, the farther one the
negative. The loss then asks the embedding to keep the input space's neighbourhood
order - a soft constraint that stops the cross-modal terms from tearing apart
items that were alike before projection.
"""

from __future__ import annotations

import numpy as np
import torch

from ml.losses.triplet import Triplets
from ml.miners.segments import MiningError

__all__ = ["mine_intra_modal_triplets"]


def mine_intra_modal_triplets(
    features: np.ndarray | torch.Tensor,
    clip_ids: np.ndarray,
    rng: np.random.Generator,
    n_triplets: int | None = None,
) -> Triplets:
    """Draw ``n_triplets`` (default: one per row) ordered triplets from distinct clips.

    ``features`` are the *input* vectors (N, D) of one modality (normalised or raw;
    the order only depends on distances, so use what the model sees). Triplets whose
    two distances tie carry no ordering and are dropped, so fewer may come back.
    """
    x = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features)
    ids = np.asarray(clip_ids)
    if x.ndim != 2 or len(x) != len(ids):
        raise MiningError(f"features (N, D) and clip_ids (N,) disagree: {x.shape}, {ids.shape}")
    if np.unique(ids).size < 3:
        raise MiningError("intra-modal triplets need rows from at least three clips")
    n = len(ids) if n_triplets is None else int(n_triplets)
    a_parts, b_parts, c_parts = [], [], []
    have = 0
    # Rejection sampling: with >= 3 clips a draw is accepted with positive probability;
    # the cap keeps a pathological batch (one huge clip, two one-row clips) bounded.
    for _ in range(100):
        if have >= n:
            break
        draws = rng.integers(0, len(ids), size=(3, 2 * (n - have) + 8))
        ok = (
            (ids[draws[0]] != ids[draws[1]])
            & (ids[draws[0]] != ids[draws[2]])
            & (ids[draws[1]] != ids[draws[2]])
        )
        a_parts.append(draws[0, ok])
        b_parts.append(draws[1, ok])
        c_parts.append(draws[2, ok])
        have += int(ok.sum())
    a = np.concatenate(a_parts)[:n]
    b = np.concatenate(b_parts)[:n]
    c = np.concatenate(c_parts)[:n]
    d_ab = ((x[a] - x[b]) ** 2).sum(axis=1)
    d_ac = ((x[a] - x[c]) ** 2).sum(axis=1)
    keep = d_ab != d_ac
    b_closer = d_ab < d_ac
    positive = np.where(b_closer, b, c)[keep]
    negative = np.where(b_closer, c, b)[keep]
    return Triplets(a[keep], positive, negative)
