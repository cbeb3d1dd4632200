"""Videos made of shots with hard cuts at known frames, for testing shot detectors.

Each shot has its own colour, its own texture (gratings, checkers or smooth noise)
drifting across the picture, and a bright disc moving over it, so that consecutive
frames inside a shot differ (motion) while consecutive shots differ in colour and
texture. Cuts are hard: the last frame of a shot is followed directly by the first
frame of the next.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ml.synth.io import write_video

__all__ = ["random_shot_lengths", "shot_video_frames", "write_shot_video"]


def random_shot_lengths(
    duration_s: float, fps: float, rng: np.random.Generator, min_s: float = 1.5, max_s: float = 5.0
) -> np.ndarray:
    """Shot lengths in frames, each between ``min_s`` and ``max_s`` seconds (the
    last may be shorter), summing to ``round(duration_s * fps)``."""
    total = int(round(duration_s * fps))
    lengths = []
    while sum(lengths) < total:
        lengths.append(int(rng.integers(int(min_s * fps), int(max_s * fps) + 1)))
    lengths[-1] -= sum(lengths) - total
    if lengths[-1] < int(min_s * fps) and len(lengths) > 1:
        last = lengths.pop()
        lengths[-1] += last
    return np.array(lengths, dtype=np.int64)


def _shot_frames(
    length: int, width: int, height: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    colour = rng.uniform(0.15, 1.0, size=3).astype(np.float32)
    kind = rng.integers(3)
    scale = rng.uniform(4.0, 14.0)
    angle = rng.uniform(0, np.pi)
    speed = rng.uniform(0.5, 2.5)  # pixels per frame
    noise = rng.random((height // 8 + 2, width // 8 + 2)).astype(np.float32)
    disc_xy = rng.uniform([0, 0], [width, height])
    disc_v = rng.uniform(-3, 3, size=2)
    for t in range(length):
        u = xx * np.cos(angle) + yy * np.sin(angle) + speed * t
        if kind == 0:  # drifting grating
            pattern = 0.5 + 0.5 * np.sin(2 * np.pi * u / scale)
        elif kind == 1:  # drifting checkerboard
            v = -xx * np.sin(angle) + yy * np.cos(angle)
            pattern = ((np.floor(u / scale) + np.floor(v / scale)) % 2).astype(np.float32)
        else:  # smooth noise panning sideways
            shift = int(speed * t)
            iy = (yy / 8).astype(int)
            ix = ((xx + shift) / 8).astype(int) % noise.shape[1]
            pattern = noise[iy, ix]
        image = (0.35 + 0.65 * pattern)[..., None] * colour
        cx, cy = disc_xy + disc_v * t
        disc = ((xx - cx % width) ** 2 + (yy - cy % height) ** 2) < (height / 6) ** 2
        image[disc] = 1.0 - 0.5 * colour
        yield (np.clip(image, 0, 1) * 255).astype(np.uint8)


def shot_video_frames(
    shot_lengths: np.ndarray, width: int = 160, height: int = 90, seed: int = 0
) -> Iterator[np.ndarray]:
    """RGB uint8 frames ``(height, width, 3)`` of consecutive shots, one shot per length."""
    rng = np.random.default_rng(seed)
    for length in shot_lengths:
        yield from _shot_frames(int(length), width, height, rng)


def write_shot_video(
    path: str | os.PathLike,
    duration_s: float,
    fps: float = 25.0,
    seed: int = 0,
    width: int = 160,
    height: int = 90,
) -> np.ndarray:
    """Write an H.264 video of random shots; return the cut frames.

    The returned array holds, for every shot but the first, the index of its first
    frame (so the cut times are ``cuts / fps``).
    """
    rng = np.random.default_rng(seed)
    lengths = random_shot_lengths(duration_s, fps, rng)
    write_video(
        Path(path), shot_video_frames(lengths, width, height, seed + 1), fps, crf=18, threads=1
    )
    return np.cumsum(lengths)[:-1]
