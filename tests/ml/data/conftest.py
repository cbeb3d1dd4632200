"""Fixtures of the dataset tests: real generated music videos, a plain segmenter, and a
dataset built from them. The latent paired dataset and the tiny training configurations
are in ``tests/ml/conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def music_video_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six short synthetic music videos (H.264 + AAC), plus files the builder must skip."""
    import shutil
    import subprocess

    from ml.synth.clip import ClipSpec
    from ml.synth.corpus import generate_corpus

    corpus = tmp_path_factory.mktemp("synth_corpus")
    generate_corpus(
        corpus,
        n_clips=6,
        seed=11,
        spec=ClipSpec(min_duration_s=8.0, max_duration_s=12.0, width=96, height=54, fps=12.0),
        track_format=None,
    )
    folder = corpus / "videos"
    (folder / "notes.mp4").write_text("this is not a video\n")
    shutil.copy(folder / "clip_00000.mp4", folder / "copy_of_clip_00000.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(folder / "clip_00001.mp4"), "-an",
         "-c:v", "copy", str(folder / "silent_picture.mp4")],
        check=True,
    )  # fmt: skip
    return folder


def segment_every_3s(path: Path, y, sr: int, method: str):
    """Cuts every 3 s: a plain segmentation for tests that are not about MSAF."""
    import numpy as np

    duration = len(y) / sr
    return np.append(np.arange(0.0, duration, 3.0), duration)


@pytest.fixture(scope="session")
def grid_segmenter():
    return segment_every_3s


@pytest.fixture(scope="session")
def built_dataset(music_video_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    from ml.data.clips import BuildConfig, build_dataset

    out = tmp_path_factory.mktemp("built_dataset")
    config = BuildConfig(
        music_video_folder,
        out,
        segmentation="foote",
        split_fractions=(0.34, 0.33, 0.33),
        progress=False,
    )
    return config, build_dataset(config, segmenter=segment_every_3s)
