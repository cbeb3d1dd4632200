"""What a track's evidence is worth for any video: its prior over a bank of music videos.

The training-free evidence (:mod:`ml.sync.beat_grid`, :mod:`ml.sync.structure`) says
how well a query fits a track, but some tracks fit every video: a dense, steady beat
grid catches any set of cuts, a track that repeats one texture correlates with any
picture that repeats. Such a track is a *hub*: first for many queries, for none of
them because it is the right one. CSLS corrects the learned distance for the same
fault with a bank of reference queries (:mod:`ml.ranking.hubness`); the evidence
gets the same treatment. A track's *prior* is the mean of its evidence over a bank
of ``B`` music videos (the model's training clips, cut as queries are):

    prior_j = mean_b s(bank_b, track_j),    s'_ij = s(query_i, track_j) - prior_j,

so what is fused is how much better the query fits the track than videos in general
do. A bank video that is the track's own (a training clip whose soundtrack is in
the catalog) is left out of that track's mean.

Measured with each fold's training clips (at most :data:`MAX_SYNC_BANK`) as the bank,
the served ranking improved in every cell of both development worlds and the top-1
share of the most frequent track fell (docs/experiments.md "The evidence's prior").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.segments import segment_vectors
from ml.sync.beat_grid import beat_grid_scores
from ml.sync.offset import TrackEvents
from ml.sync.structure import structure_scores

__all__ = ["MAX_SYNC_BANK", "SyncBank", "SyncPriors", "centre_on_prior"]

#: Bank videos a model keeps for the priors, at most (the first of its training clips);
#: 12, 24 and 48 were level on two worlds (docs/experiments.md).
MAX_SYNC_BANK = 24


@dataclass(frozen=True)
class SyncPriors:
    """``(n,)`` mean evidence of each track over the bank: ``beat`` (cuts on beats) and
    ``structure`` (structure agreement); NaN where no bank video gave a score."""

    beat: np.ndarray
    structure: np.ndarray


@dataclass(frozen=True)
class SyncBank:
    """Music videos as the service sees a query: their cut times, durations and 1 Hz
    frame features.

    ``cuts_s[b]`` ``(n_cuts,)`` seconds, ``durations_s`` ``(B,)`` seconds, ``frames[b]``
    ``(T_b, D_v)``, ``clip_ids[b]`` a name each (whose soundtrack it is).
    """

    clip_ids: tuple[str, ...]
    cuts_s: tuple[np.ndarray, ...]
    durations_s: np.ndarray
    frames: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        n = len(self.clip_ids)
        if not (len(self.cuts_s) == len(self.frames) == len(self.durations_s) == n):
            raise ValueError("a bank needs one id, cut list, duration and frame array a video")
        if n and not np.all(np.asarray(self.durations_s) > 0):
            raise ValueError("bank videos must have a positive duration")

    def __len__(self) -> int:
        return len(self.clip_ids)

    def segment_vectors(self) -> list[np.ndarray]:
        """Each video's ``(K_b, D_v)`` segment vectors, its frames averaged between its
        cuts, as a query's are (:func:`ml.segments.segment_vectors`)."""
        return [
            segment_vectors(frames, np.r_[0.0, cuts, duration])
            for cuts, duration, frames in zip(
                self.cuts_s, self.durations_s, self.frames, strict=True
            )
        ]

    def priors(
        self,
        events: Sequence[TrackEvents],
        frames: Sequence[np.ndarray | None],
        own: Sequence[str | None] | None = None,
    ) -> SyncPriors:
        """Each track's mean evidence over the bank.

        Parameters
        ----------
        events : sequence of TrackEvents
            The tracks' beats, downbeats and boundaries, as the cuts-on-beats score
            reads them.
        frames : sequence of np.ndarray or None
            The tracks' ``(T_i, D_m)`` 1 Hz features (None: no structure prior).
        own : sequence of str or None, optional
            The bank clip whose soundtrack each track is, if any: left out of that
            track's mean.
        """
        n = len(events)
        if len(frames) != n or (own is not None and len(own) != n):
            raise ValueError(f"{n} tracks' events, {len(frames)} frame arrays")
        beat = np.full((len(self), n), np.nan)
        structure = np.full((len(self), n), np.nan)
        with_frames = [i for i, f in enumerate(frames) if f is not None]
        for b in range(len(self)):
            grid = beat_grid_scores(self.cuts_s[b], float(self.durations_s[b]), events)
            beat[b] = grid.score
            if with_frames:
                structure[b, with_frames] = structure_scores(
                    self.frames[b], [frames[i] for i in with_frames], grid.offset_s[with_frames]
                )
        if own is not None:
            rows = {clip: b for b, clip in enumerate(self.clip_ids)}
            for i, clip in enumerate(own):
                if clip in rows:
                    beat[rows[clip], i] = structure[rows[clip], i] = np.nan
        return SyncPriors(_nanmean(beat), _nanmean(structure))

    def save(self, path: Path) -> None:
        """Write the bank to one ``.npz`` file."""
        np.savez(
            path,
            clip_ids=np.array(self.clip_ids, dtype=str),
            durations_s=np.asarray(self.durations_s, dtype=np.float64),
            cut_offsets=_offsets(self.cuts_s),
            cuts_s=_concat(self.cuts_s, 1),
            frame_offsets=_offsets(self.frames),
            frames=_concat(self.frames, self.frames[0].shape[1] if self.frames else 1),
        )

    @classmethod
    def load(cls, path: Path) -> SyncBank:
        """The bank :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as z:
            cuts, frames = z["cuts_s"], z["frames"]
            return cls(
                tuple(str(c) for c in z["clip_ids"]),
                _split(cuts, z["cut_offsets"]),
                z["durations_s"],
                _split(frames, z["frame_offsets"]),
            )


def centre_on_prior(scores: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``scores`` ``(..., n)`` minus each track's ``prior`` ``(n,)``; a track without a
    prior (NaN) keeps its score."""
    return np.asarray(scores, np.float64) - np.nan_to_num(np.asarray(prior, np.float64), nan=0.0)


def _nanmean(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    count = finite.sum(axis=0)
    total = np.where(finite, x, 0.0).sum(axis=0)
    return np.divide(total, count, out=np.full(x.shape[1], np.nan), where=count > 0)


def _offsets(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)


def _concat(arrays: Sequence[np.ndarray], width: int) -> np.ndarray:
    if not arrays:
        return np.zeros((0,) if width == 1 else (0, width))
    return np.concatenate([np.asarray(a, np.float64) for a in arrays])


def _split(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(values[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True))
