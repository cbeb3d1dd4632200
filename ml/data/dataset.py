"""The on-disk video-music dataset: per-clip segment vectors plus a manifest.

Layout of a dataset directory::

    manifest.json       manifest: segmentation, extractors (names, versions, dims),
                        split, one entry per clip, skipped files with the reason
    cache/ab/<key>.npz  one file per clip (see :mod:`ml.data.cache`)

A clip file holds the 1 Hz frame features of both modalities (cut to a common
length), the segment boundaries in seconds (0 and the duration included) and the
mean frame feature per segment for each modality. Row ``k`` of ``music_segments``
and of ``video_segments`` describe the same stretch of time: a training pair.

:func:`load_dataset` reads it back; :class:`VideoMusicDataset` hands out the arrays
that training needs (segment pairs for Seg-VM-Net, clip vectors or frame sequences
for VM-Net), and :meth:`VideoMusicDataset.fingerprint`, the identity of the data a
model is trained on.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.data.cache import ContentDigest
from ml.data.splits import SPLITS

__all__ = [
    "DATASET_FORMAT",
    "FINGERPRINTED_SPLITS",
    "MANIFEST_NAME",
    "ClipEntry",
    "ClipRecord",
    "DatasetError",
    "DatasetManifest",
    "ExtractorInfo",
    "SegmentPairs",
    "VideoMusicDataset",
    "load_clip_record",
    "load_dataset",
    "save_clip_record",
    "write_manifest",
]

DATASET_FORMAT = 1
MANIFEST_NAME = "manifest.json"
# The splits a training run reads; the test split does not shape the model.
FINGERPRINTED_SPLITS = ("train", "val")
# Every array of a clip file, in a fixed order.
_RECORD_ARRAYS = (
    "boundaries_s",
    "music_frames",
    "video_frames",
    "music_segments",
    "video_segments",
)


class DatasetError(ValueError):
    """A dataset directory or clip file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class ExtractorInfo:
    """Identity of a frame-feature extractor: enough to reproduce and to serve."""

    name: str
    version: str
    modality: str
    dim: int


@dataclass(frozen=True)
class ClipRecord:
    """The features of one clip. ``boundaries_s`` has K+1 entries for K segments."""

    clip_id: str
    boundaries_s: np.ndarray
    music_frames: np.ndarray
    video_frames: np.ndarray
    music_segments: np.ndarray
    video_segments: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.boundaries_s) - 1
        if k < 1:
            raise DatasetError(f"{self.clip_id}: need at least one segment")
        if self.music_segments.shape[0] != k or self.video_segments.shape[0] != k:
            raise DatasetError(
                f"{self.clip_id}: {k} segments but {self.music_segments.shape[0]} music and "
                f"{self.video_segments.shape[0]} video segment vectors"
            )
        if len(self.music_frames) != len(self.video_frames):
            raise DatasetError(f"{self.clip_id}: music and video frame counts differ")

    @property
    def n_segments(self) -> int:
        return len(self.boundaries_s) - 1

    @property
    def duration_s(self) -> float:
        return float(self.boundaries_s[-1])


def save_clip_record(path: Path, record: ClipRecord, meta: dict[str, Any]) -> None:
    """Write a clip file atomically (a crash never leaves a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(
            f,
            clip_id=np.asarray(record.clip_id),
            boundaries_s=np.asarray(record.boundaries_s, dtype=np.float64),
            music_frames=np.asarray(record.music_frames, dtype=np.float32),
            video_frames=np.asarray(record.video_frames, dtype=np.float32),
            music_segments=np.asarray(record.music_segments, dtype=np.float32),
            video_segments=np.asarray(record.video_segments, dtype=np.float32),
            meta=np.asarray(json.dumps(meta, sort_keys=True)),
        )
    os.replace(tmp, path)


def load_clip_record(path: Path) -> tuple[ClipRecord, dict[str, Any]]:
    """Read a clip file; raise :class:`DatasetError` when it is unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            record = ClipRecord(
                clip_id=str(data["clip_id"]),
                boundaries_s=data["boundaries_s"],
                music_frames=data["music_frames"],
                video_frames=data["video_frames"],
                music_segments=data["music_segments"],
                video_segments=data["video_segments"],
            )
            meta = json.loads(str(data["meta"]))
    except (OSError, KeyError, ValueError, EOFError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"unreadable clip file {path}: {exc}") from exc
    return record, meta


@dataclass(frozen=True)
class ClipEntry:
    """One clip of the manifest. ``file`` is relative to the dataset directory."""

    clip_id: str
    source: str
    file: str
    split: str
    n_segments: int
    duration_s: float


@dataclass
class DatasetManifest:
    """Everything that produced the dataset, and its clips."""

    segmentation: str
    audio_extractor: ExtractorInfo
    video_extractor: ExtractorInfo
    clips: list[ClipEntry]
    split_seed: int = 0
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    skipped: list[dict[str, str]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    format: int = DATASET_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetManifest:
        if data.get("format") != DATASET_FORMAT:
            raise DatasetError(f"unsupported dataset format {data.get('format')!r}")
        return cls(
            segmentation=data["segmentation"],
            audio_extractor=ExtractorInfo(**data["audio_extractor"]),
            video_extractor=ExtractorInfo(**data["video_extractor"]),
            clips=[ClipEntry(**c) for c in data["clips"]],
            split_seed=int(data["split_seed"]),
            split_fractions=tuple(data["split_fractions"]),
            skipped=list(data.get("skipped", [])),
            versions=dict(data.get("versions", {})),
        )


def write_manifest(root: Path, manifest: DatasetManifest) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / MANIFEST_NAME
    tmp = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class SegmentPairs:
    """Paired rows: ``music[i]`` and ``video[i]`` are the same segment of clip
    ``clip_index[i]`` (an index into ``clip_ids``)."""

    music: np.ndarray
    video: np.ndarray
    clip_index: np.ndarray
    clip_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.clip_index)


class VideoMusicDataset:
    """A loaded dataset directory (all clip files read once, in manifest order)."""

    def __init__(self, root: Path, manifest: DatasetManifest, records: list[ClipRecord]) -> None:
        self.root = root
        self.manifest = manifest
        self._records = {r.clip_id: r for r in records}

    def clip_ids(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {SPLITS}")
        return [c.clip_id for c in self.manifest.clips if c.split == split]

    def records(self, split: str) -> list[ClipRecord]:
        return [self._records[c] for c in self.clip_ids(split)]

    def fingerprint(self, splits: tuple[str, ...] = FINGERPRINTED_SPLITS) -> str:
        """SHA-256 (64 hex digits) of the content of ``splits``: per split, in manifest
        order, each clip's id and every array of its clip file (dtype, shape, bytes).

        Equal for a copy of the dataset in another folder; different when a clip is
        added, removed, moved to another split, reordered or has any value changed.
        Metadata that does not reach training (sources, file names, the test split by
        default) is left out. Costs one pass over the feature bytes.
        """
        digest = ContentDigest("v2m-dataset-fingerprint-1")
        for split in splits:
            records = self.records(split)
            digest.text(split).text(str(len(records)))
            for record in records:
                digest.text(record.clip_id)
                for name in _RECORD_ARRAYS:
                    digest.array(getattr(record, name))
        return digest.hexdigest()

    def segment_pairs(self, split: str) -> SegmentPairs:
        """All (music segment, video segment) pairs of a split, for Seg-VM-Net."""
        records = self.records(split)
        if not records:
            raise DatasetError(f"split {split!r} has no clips")
        return SegmentPairs(
            music=np.concatenate([r.music_segments for r in records]).astype(np.float32),
            video=np.concatenate([r.video_segments for r in records]).astype(np.float32),
            clip_index=np.concatenate(
                [np.full(r.n_segments, i, dtype=np.int64) for i, r in enumerate(records)]
            ),
            clip_ids=tuple(r.clip_id for r in records),
        )

    def clip_pairs(self, split: str) -> SegmentPairs:
        """One (music, video) pair per clip: the mean frame feature over the clip."""
        records = self.records(split)
        if not records:
            raise DatasetError(f"split {split!r} has no clips")
        return SegmentPairs(
            music=np.stack([r.music_frames.mean(axis=0) for r in records]).astype(np.float32),
            video=np.stack([r.video_frames.mean(axis=0) for r in records]).astype(np.float32),
            clip_index=np.arange(len(records), dtype=np.int64),
            clip_ids=tuple(r.clip_id for r in records),
        )

    def clip_frames(self, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Frame sequences (T_i, D) per clip, music and video, for pooled VM-Net."""
        records = self.records(split)
        return [r.music_frames for r in records], [r.video_frames for r in records]


def load_dataset(root: Path | str) -> VideoMusicDataset:
    """Read a dataset directory written by the builder (or :func:`write_manifest`)."""
    root = Path(root)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(f"no {MANIFEST_NAME} in {root}: build the dataset first")
    try:
        manifest = DatasetManifest.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"malformed manifest {path}: {exc}") from exc
    records = []
    for entry in manifest.clips:
        record, _ = load_clip_record(root / entry.file)
        if record.clip_id != entry.clip_id:
            raise DatasetError(f"{entry.file} holds clip {record.clip_id!r}, not {entry.clip_id!r}")
        records.append(record)
    return VideoMusicDataset(root, manifest, records)
