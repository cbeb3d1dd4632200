"""Train / validation / test splits by clip.

Every segment of a clip lands in the split of its clip: segments of one music video
share a style, so a segment-level split would leak test clips into training.
The assignment is a deterministic function of the clip ids and the seed (a keyed
hash order, not the order the files were found in), so rebuilding a dataset or
resuming an interrupted build gives the same split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["SPLITS", "split_by_clip"]

SPLITS = ("train", "val", "test")


def _hash_order_key(clip_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{clip_id}".encode()).hexdigest()


def split_by_clip(
    clip_ids: Iterable[str],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> dict[str, str]:
    """Map each clip id to "train", "val" or "test".

    Counts follow ``fractions`` (rounded, rest to train); with three clips or more,
    validation and test each get at least one clip when their fraction is positive,
    so that early stopping and evaluation always have something to look at.
    """
    ids = list(dict.fromkeys(clip_ids))
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions}")
    total = float(sum(fractions))
    _, val_f, test_f = (f / total for f in fractions)
    n = len(ids)
    n_val = round(n * val_f)
    n_test = round(n * test_f)
    if n >= 3:
        n_val = max(n_val, 1 if val_f > 0 else 0)
        n_test = max(n_test, 1 if test_f > 0 else 0)
    n_val = min(n_val, n)
    n_test = min(n_test, n - n_val)
    order = sorted(ids, key=lambda clip: _hash_order_key(clip, seed))
    assignment = {clip: "val" for clip in order[:n_val]}
    assignment.update({clip: "test" for clip in order[n_val : n_val + n_test]})
    assignment.update({clip: "train" for clip in order[n_val + n_test :]})
    return assignment
