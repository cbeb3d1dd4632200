"""Which excerpts of which recordings make the clips, and which split each falls in.

* **Split by recording.** A recording's split comes from a hash of its id alone
  (:func:`split_of`): every excerpt of a recording lands in the same split, in
  every world and for every seed, so a model trained on one world's training split
  never hears the music of another world's test split.
* **Excerpts by seed.** A recording gives one or more non-overlapping excerpts of
  ``min_len_s``-``max_len_s`` seconds (:func:`excerpt_windows`), drawn from a
  generator seeded by ``(seed, recording id)``: adding or removing packages does
  not move another recording's excerpts.
* **Clips in a fixed order.** :func:`plan_excerpts` interleaves the source
  packages (one recording of each in turn), so the first few clips already come
  from several packages, and the plan for ``n`` clips is the first ``n`` of the
  plan for more: a corpus can be grown by asking for more clips.

Times are in seconds; excerpt lengths are whole numbers of video frames.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from ml.corpora.sources import Recording

__all__ = [
    "SPLITS",
    "SPLIT_SHARES",
    "Excerpt",
    "clip_id_of",
    "excerpt_windows",
    "plan_excerpts",
    "seeded_rng",
    "split_of",
]

SPLITS = ("train", "val", "test")
#: Share of recordings in each split.
SPLIT_SHARES = (0.7, 0.15, 0.15)


@dataclass(frozen=True)
class Excerpt:
    """One clip's music: ``[start_s, end_s)`` of ``recording``."""

    clip_id: str
    recording: Recording
    index: int
    start_s: float
    end_s: float
    split: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _unit_hash(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def seeded_rng(*parts: object) -> np.random.Generator:
    """A generator seeded from any values (stable across runs and machines)."""
    return np.random.default_rng(_unit_hash(*parts))


def split_of(recording_id: str, shares: tuple[float, ...] = SPLIT_SHARES) -> str:
    """The split of a recording: a pure function of its id (see module docstring)."""
    u = _unit_hash("v2m-corpora-split", recording_id) / 2.0**64
    edges = np.cumsum(shares) / np.sum(shares)
    return SPLITS[min(int(np.searchsorted(edges, u, side="right")), len(SPLITS) - 1)]


def clip_id_of(recording_id: str, index: int) -> str:
    """A file-name-safe clip name, e.g. ``wesnoth-music--battle-epic--0``."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", recording_id)
    safe = "--".join(re.sub(r"[^a-z0-9]+", "-", p).strip("-") for p in stem.lower().split("/"))
    return f"{safe}--{index}"


def excerpt_windows(
    duration_s: float,
    rng: np.random.Generator,
    *,
    min_len_s: float = 20.0,
    max_len_s: float = 60.0,
    max_per_recording: int = 3,
    margin_s: float = 1.0,
    fps: float = 25.0,
) -> list[tuple[float, float]]:
    """Non-overlapping excerpt windows of a recording of ``duration_s`` seconds.

    The recording (less ``margin_s`` at each end) is cut into as many equal slots
    as whole excerpts of ``max_len_s`` (plus 5 s) fit, between 1 and
    ``max_per_recording``; each slot holds one excerpt of a length drawn uniformly
    from ``[min_len_s, min(max_len_s, slot)]`` at a uniform position. A recording
    shorter than ``min_len_s`` plus the margins gives none.

    Returns
    -------
    list of (start_s, end_s)
        Starts rounded to the millisecond, lengths to whole frames of ``fps``.
    """
    if not 0 < min_len_s <= max_len_s:
        raise ValueError(f"need 0 < min_len_s <= max_len_s, got {min_len_s}, {max_len_s}")
    usable = duration_s - 2 * margin_s
    if usable < min_len_s:
        return []
    count = int(np.clip(usable // (max_len_s + 5.0), 1, max_per_recording))
    slot = usable / count
    windows = []
    for k in range(count):
        length = rng.uniform(min_len_s, min(max_len_s, slot))
        length = max(np.floor(length * fps) / fps, np.ceil(min_len_s * fps) / fps)
        start = margin_s + k * slot + rng.uniform(0.0, max(slot - length, 0.0))
        start = np.floor(start * 1000) / 1000
        windows.append((float(start), float(round(start + length, 6))))
    return windows


def plan_excerpts(
    recordings: list[Recording],
    seed: int,
    n_clips: int | None = None,
    **window_args: float,
) -> list[Excerpt]:
    """The first ``n_clips`` excerpts (all when ``None``) in the corpus's fixed order.

    ``window_args`` go to :func:`excerpt_windows`. The order: recordings of each
    source package shuffled by ``seed``, then taken one per package in turn, each
    with all its excerpts.
    """
    by_source: dict[str, list[Recording]] = {}
    for rec in sorted(recordings, key=lambda r: r.id):
        by_source.setdefault(rec.source, []).append(rec)
    queues = []
    for source in sorted(by_source):
        recs = by_source[source]
        order = seeded_rng("order", seed, source).permutation(len(recs))
        queues.append([recs[i] for i in order])
    plan: list[Excerpt] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        for queue in queues:
            if depth >= len(queue):
                continue
            rec = queue[depth]
            rng = seeded_rng("excerpts", seed, rec.id)
            for k, (start, end) in enumerate(excerpt_windows(rec.duration_s, rng, **window_args)):
                plan.append(Excerpt(clip_id_of(rec.id, k), rec, k, start, end, split_of(rec.id)))
                if n_clips is not None and len(plan) >= n_clips:
                    return plan
    return plan
