"""A paired dataset with a known answer, without media: for tests and benchmarks of
the training loop.

Generative story. Each clip has a style ``s ~ N(0, I_L)``; each of its segments a
latent ``z = s + segment_spread * N(0, I_L)`` and a length of 3-8 s. One random
nonlinear map turns latents into music features (``tanh(z A) B``), another into
video features (``relu(z C) D``); every 1 Hz frame adds independent Gaussian noise.
The only link between the modalities is the shared latent, so a model that learns
to pair them has learned to invert two unknown maps - the situation of real
music videos, where style drives both sound and picture.

The result is written in the dataset format of :mod:`ml.data.dataset`, so the
trainer reads it exactly like a dataset built from video files.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np

from ml.data.cache import clip_file_name
from ml.data.dataset import (
    ClipEntry,
    ClipRecord,
    DatasetManifest,
    ExtractorInfo,
    save_clip_record,
    write_manifest,
)
from ml.data.splits import split_by_clip

__all__ = ["write_latent_paired_dataset"]


def _random_map(rng: np.random.Generator, latent_dim: int, hidden: int, out_dim: int):
    first = rng.normal(size=(latent_dim, hidden)) / np.sqrt(latent_dim)
    second = rng.normal(size=(hidden, out_dim)) / np.sqrt(hidden)
    return first, second


def write_latent_paired_dataset(
    root: Path | str,
    n_clips: int = 60,
    *,
    music_dim: int = 24,
    video_dim: int = 16,
    latent_dim: int = 6,
    segments_per_clip: tuple[int, int] = (3, 6),
    segment_spread: float = 0.6,
    frame_noise: float = 0.3,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> Path:
    """Write ``n_clips`` synthetic clips to ``root``; return the manifest path."""
    if n_clips < 3:
        raise ValueError("need at least three clips (train, validation, test)")
    root = Path(root)
    rng = np.random.default_rng(seed)
    music_a, music_b = _random_map(rng, latent_dim, 4 * latent_dim, music_dim)
    video_a, video_b = _random_map(rng, latent_dim, 4 * latent_dim, video_dim)
    clip_ids = [f"clip{i:04d}" for i in range(n_clips)]
    splits = split_by_clip(clip_ids, split_fractions, seed)
    entries = []
    for clip_id in clip_ids:
        style = rng.normal(size=latent_dim)
        n_segments = int(rng.integers(segments_per_clip[0], segments_per_clip[1] + 1))
        lengths = rng.integers(3, 9, size=n_segments)
        latents = style + segment_spread * rng.normal(size=(n_segments, latent_dim))
        frame_latents = np.repeat(latents, lengths, axis=0)
        music = np.tanh(frame_latents @ music_a) @ music_b
        video = np.maximum(frame_latents @ video_a, 0.0) @ video_b
        music += frame_noise * rng.normal(size=music.shape)
        video += frame_noise * rng.normal(size=video.shape)
        edges = np.concatenate([[0], np.cumsum(lengths)])
        spans = list(pairwise(edges))
        record = ClipRecord(
            clip_id=clip_id,
            boundaries_s=edges.astype(np.float64),
            music_frames=music.astype(np.float32),
            video_frames=video.astype(np.float32),
            music_segments=np.stack([music[a:b].mean(axis=0) for a, b in spans]).astype(np.float32),
            video_segments=np.stack([video[a:b].mean(axis=0) for a, b in spans]).astype(np.float32),
        )
        file = clip_file_name(clip_id)
        save_clip_record(root / file, record, {"generator": "latent_pairs", "seed": seed})
        entries.append(
            ClipEntry(clip_id, "synthetic", file, splits[clip_id], n_segments, record.duration_s)
        )
    manifest = DatasetManifest(
        segmentation="synthetic",
        audio_extractor=ExtractorInfo("latent-music", "1", "audio", music_dim),
        video_extractor=ExtractorInfo("latent-video", "1", "video", video_dim),
        clips=entries,
        split_seed=seed,
        split_fractions=split_fractions,
    )
    return write_manifest(root, manifest)
