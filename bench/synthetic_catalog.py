"""Synthetic clustered catalogs, for tests and benchmarks of the index at any size.

Real catalogs are clustered (styles, libraries, albums), and a track's segments
scatter around the track's own direction. The generator mirrors that in three
levels, each a Gaussian perturbation on the unit sphere:

    cluster centre  ->  track direction (``track_spread``)
                    ->  segment embeddings (``segment_spread``)

and makes queries the way a video of a catalog track would look: a contiguous
run of that track's segments (the video is shorter than the track), each
perturbed again (``query_spread``), so that the true track is a near neighbour
without being an exact copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.index.metadata import TrackMetadata

__all__ = ["SyntheticCatalog", "clustered_catalog", "make_query"]

LICENSES = ("cc-by", "cc-by-nc", "library-a", "library-b", "all-rights-reserved")
TAGS = tuple(f"tag-{i:02d}" for i in range(24))


@dataclass(frozen=True)
class SyntheticCatalog:
    """Tracks in packed form, plus what generated them."""

    track_ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (N, d) unit rows, float32 or float16
    offsets: np.ndarray  # (n + 1,) int64
    cluster_of: np.ndarray  # (n,) int32
    metadata: list[TrackMetadata]

    def segments(self, i: int) -> np.ndarray:
        return self.vectors[self.offsets[i] : self.offsets[i + 1]]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _perturb(rng: np.random.Generator, base: np.ndarray, spread: float) -> np.ndarray:
    # Noise of expected norm `spread` whatever the dimension.
    noise = rng.standard_normal(base.shape, dtype=np.float32)
    return _unit(base + noise * np.float32(spread / np.sqrt(base.shape[-1])))


def clustered_catalog(
    n_tracks: int,
    dim: int,
    *,
    n_clusters: int | None = None,
    segments: tuple[int, int] = (6, 20),
    track_spread: float = 0.7,
    segment_spread: float = 0.8,
    dtype: str = "float32",
    first_id: int = 1,
    seed: int = 0,
    chunk: int = 50_000,
) -> SyntheticCatalog:
    """A catalog of ``n_tracks`` tracks of ``segments`` (inclusive range) segments each.

    Generated chunk by chunk straight into the output array, so a million tracks
    only need the memory of the result.
    """
    if n_tracks <= 0 or dim <= 0:
        raise ValueError("n_tracks and dim must be positive")
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(8, n_tracks // 200)
    centres = _unit(rng.standard_normal((n_clusters, dim), dtype=np.float32))
    lengths = rng.integers(segments[0], segments[1] + 1, n_tracks)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    cluster_of = rng.integers(0, n_clusters, n_tracks).astype(np.int32)
    vectors = np.empty((int(offsets[-1]), dim), np.dtype(dtype))
    for start in range(0, n_tracks, chunk):
        stop = min(start + chunk, n_tracks)
        directions = _perturb(rng, centres[cluster_of[start:stop]], track_spread)
        rows = slice(offsets[start], offsets[stop])
        owner = np.repeat(np.arange(stop - start), lengths[start:stop])
        vectors[rows] = _perturb(rng, directions[owner], segment_spread)
    metadata = _random_metadata(rng, n_tracks)
    track_ids = np.arange(first_id, first_id + n_tracks, dtype=np.int64)
    return SyntheticCatalog(track_ids, vectors, offsets, cluster_of, metadata)


def _random_metadata(rng: np.random.Generator, n_tracks: int) -> list[TrackMetadata]:
    """Licences, artists (about 8 tracks each), 0-5 tags, tempo and duration per track."""
    licenses = rng.integers(0, len(LICENSES), n_tracks).tolist()
    artists = rng.integers(0, max(1, n_tracks // 8), n_tracks).tolist()
    has_tag = rng.random((n_tracks, len(TAGS))) < 2.0 / len(TAGS)
    tag_rows, tag_cols = np.nonzero(has_tag)
    tags_of = np.split(tag_cols, np.searchsorted(tag_rows, np.arange(1, n_tracks)))
    bpms = rng.uniform(60, 180, n_tracks).round(1).tolist()
    durations = rng.uniform(60, 360, n_tracks).round(1).tolist()
    return [
        TrackMetadata(
            license=LICENSES[lic],
            artist=f"artist-{art}",
            tags=tuple(TAGS[t] for t in tags.tolist()),
            bpm=bpm,
            duration_s=dur,
        )
        for lic, art, tags, bpm, dur in zip(licenses, artists, tags_of, bpms, durations)
    ]


def make_query(
    catalog: SyntheticCatalog,
    index: int,
    *,
    n_segments: int = 10,
    query_spread: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """A (Kq, d) float32 query resembling track ``index``: a perturbed excerpt of it."""
    rng = np.random.default_rng(seed)
    source = catalog.segments(index).astype(np.float32)
    if len(source) > n_segments:
        start = int(rng.integers(0, len(source) - n_segments + 1))
        source = source[start : start + n_segments]
    return _perturb(rng, source, query_spread)
