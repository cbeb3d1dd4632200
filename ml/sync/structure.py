"""Whether a video's picture repeats where a track's music repeats: training-free
evidence of shared structure.

Editors give a music video's sections looks of their own and bring a look back when
its section comes back (docs/method.md §9): the chorus returns, and so do its set,
its colours, its pace. Whatever features describe each modality, the *pattern* of
repetition is then shared: two moments of the video look alike about where the two
moments of the music sound alike. A self-similarity matrix (SSM) compares every
frame of one modality with every other, in its own feature space, so two SSMs of
different modalities can be compared directly, with no model in between.

For a query of ``T`` frames (1 Hz features) laid on a track from frame ``o``:

    A = SSM(video[0:T]),   B = SSM(music[o:o+T]),
    agreement = corr({A_ij}, {B_ij}),   j - i >= min_lag,

the Pearson correlation of the two matrices' entries at least ``min_lag`` frames
apart (the diagonal band says only that neighbouring frames are alike, in any
modality). Each SSM is the cosine of frames whose every dimension is standardised
over the window, so that no single loud feature decides what "alike" means.
Agreement is 1 when the video repeats exactly where the music does, about 0 when
their repetitions are unrelated.

On the recorded world (7 folds, 154 queries, C = 22) the agreement alone ranks the
right track at 25% of the catalog (chance 50%), on the synthetic one at 14%; added to
the served ranking at :data:`STRUCTURE_WEIGHT`, it took the recorded world from 10.8%
to 9.2% of the catalog at 100 training clips and from 14.1% to 11.6% at 25, and left
the synthetic one, at its floor, unchanged (docs/experiments.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "MIN_LAG",
    "STRUCTURE_WEIGHT",
    "self_similarity",
    "structure_agreement",
    "structure_scores",
]

#: Weight of the standardised agreement in the served ranking (promote only, beside
#: the cuts-on-beats evidence; :func:`ml.ranking.fusion.fuse_evidences`), measured on
#: two worlds (module docstring).
STRUCTURE_WEIGHT = 0.5
#: Frames apart below which SSM entries are left out (seconds at 1 Hz).
MIN_LAG = 2
#: Fewest frames a window needs (below this there are too few pairs to correlate).
MIN_FRAMES = 6


def self_similarity(frames: np.ndarray) -> np.ndarray:
    """``(T, T)`` cosine self-similarity of ``frames`` ``(T, D)``, each dimension
    standardised over the ``T`` frames first (a constant dimension counts for nothing).

    Raises
    ------
    ValueError
        Not a 2-d array of finite values.
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"frames must be (T, D), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("frames contain NaN or infinite values")
    sd = x.std(axis=0)
    z = np.divide(x - x.mean(axis=0), sd, out=np.zeros_like(x), where=sd > 1e-12)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    z = np.divide(z, norms, out=np.zeros_like(z), where=norms > 1e-12)
    return z @ z.T


def structure_agreement(
    video_frames: np.ndarray, music_frames: np.ndarray, min_lag: int = MIN_LAG
) -> float:
    """Correlation of the SSMs of ``video_frames`` ``(T_v, D_v)`` and ``music_frames``
    ``(T_m, D_m)`` over their first ``min(T_v, T_m)`` frames, entries ``min_lag`` or
    more frames apart. NaN when the window is shorter than :data:`MIN_FRAMES` frames or
    either SSM is constant there (nothing repeats or everything does).
    """
    return _agreement(video_frames, music_frames, min_lag, {})


def _agreement(
    video_frames: np.ndarray, music_frames: np.ndarray, min_lag: int, video_ssms: dict
) -> float:
    """:func:`structure_agreement`, the video's SSM entries kept in ``video_ssms`` by
    window length (a query is compared with many tracks)."""
    if min_lag < 1:
        raise ValueError(f"min_lag must be >= 1, got {min_lag}")
    length = min(len(video_frames), len(music_frames))
    if length < max(MIN_FRAMES, min_lag + 2):
        return float("nan")
    rows, cols = np.triu_indices(length, min_lag)
    if length not in video_ssms:
        video_ssms[length] = self_similarity(np.asarray(video_frames)[:length])[rows, cols]
    a = video_ssms[length]
    b = self_similarity(np.asarray(music_frames)[:length])[rows, cols]
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / scale) if scale > 1e-12 else float("nan")


def structure_scores(
    video_frames: np.ndarray,
    tracks_frames: Sequence[np.ndarray],
    offsets_s: np.ndarray,
    frame_rate_hz: float = 1.0,
) -> np.ndarray:
    """``(n,)`` :func:`structure_agreement` of a query's ``video_frames`` with each
    track's ``tracks_frames[i]`` ``(T_i, D_m)`` from ``offsets_s[i]`` seconds (the
    offset at which the query is laid on the track, e.g. the cuts-on-beats best
    offset); NaN where there is no agreement to measure.
    """
    offsets = np.asarray(offsets_s, dtype=np.float64)
    if offsets.shape != (len(tracks_frames),):
        raise ValueError(f"{offsets.shape} offsets for {len(tracks_frames)} tracks")
    if not frame_rate_hz > 0:
        raise ValueError(f"frame_rate_hz must be positive, got {frame_rate_hz}")
    video = np.asarray(video_frames)
    video_ssms: dict[int, np.ndarray] = {}
    out = np.full(len(tracks_frames), np.nan)
    for i, (music, offset) in enumerate(zip(tracks_frames, offsets, strict=True)):
        if not np.isfinite(offset) or music is None:
            continue
        start = max(int(round(offset * frame_rate_hz)), 0)
        window = np.asarray(music)[start : start + len(video)]
        out[i] = _agreement(video, window, MIN_LAG, video_ssms)
    return out
