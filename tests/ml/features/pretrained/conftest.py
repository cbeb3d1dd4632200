"""Weight files and media for the pretrained-extractor tests, generated once per session.

Real weights cannot ship with the tests, so the tests make files in the exact
published formats -- the architecture built here, randomly initialised with a
fixed seed, saved with ``torch.save`` -- which exercises loading, checking,
preprocessing and shapes (not what trained weights would compute). Media are
real files encoded and decoded by ffmpeg: a chord and a noise burst section,
and a short video of coloured shots with hard cuts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.features.pretrained.resnet import resnet
from ml.features.pretrained.vggish_net import VGGishNet

SR = 22050
VIDEO_FPS = 10
SHOT_COLOURS = ((200, 30, 30), (30, 40, 210), (240, 240, 240))  # one second each


def _ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {result.stderr.decode()}")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pretrained-weights")


@pytest.fixture(scope="session")
def vggish_weights(weights_dir: Path) -> Path:
    """A VGGish state_dict in torchvggish's layout (random values, ~290 MB like the real one)."""
    torch.manual_seed(0)
    path = weights_dir / "vggish.pth"
    torch.save(VGGishNet().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def vggish_pca(weights_dir: Path) -> Path:
    """torchvggish's PCA parameter file: NumPy arrays, means as a (128, 1) column."""
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    path = weights_dir / "vggish_pca.pth"
    torch.save(
        {"pca_eigen_vectors": basis * 20.0, "pca_means": rng.standard_normal((128, 1)) * 0.01}, path
    )
    return path


@pytest.fixture(scope="session")
def resnet18_weights(weights_dir: Path) -> Path:
    """A torchvision-layout ResNet-18 state_dict, classifier ``fc.*`` included."""
    torch.manual_seed(0)
    state = resnet("resnet18").state_dict()
    state["fc.weight"] = torch.randn(1000, 512) * 0.01
    state["fc.bias"] = torch.zeros(1000)
    path = weights_dir / "resnet18.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="session")
def audio_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3.5 s at 22.05 kHz: 2 s of an A minor chord, then 1.5 s of noise bursts, as MP3."""
    t = np.arange(2 * SR) / SR
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63))
    rng = np.random.default_rng(0)
    n = int(1.5 * SR)
    bursts = rng.standard_normal(n) * 0.2 * np.exp(-((np.arange(n) % (SR // 8)) / (0.02 * SR)))
    y = np.concatenate([chord, bursts]).astype("<f4")
    path = tmp_path_factory.mktemp("pretrained-media") / "chord_then_noise.mp3"
    _ffmpeg("-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", "pipe:0", "-c:a", "libmp3lame",
            "-q:a", "2", str(path), stdin=y.tobytes())  # fmt: skip
    return path


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of 320 x 180 video: red, blue and white shots of 1 s, hard cuts, H.264."""
    frames = np.concatenate([
        np.broadcast_to(np.array(colour, np.uint8), (VIDEO_FPS, 180, 320, 3))
        for colour in SHOT_COLOURS
    ])  # fmt: skip
    path = tmp_path_factory.mktemp("pretrained-media") / "three_shots.mp4"
    _ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "320x180", "-r", str(VIDEO_FPS),
            "-i", "pipe:0", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5",
            str(path), stdin=frames.tobytes())  # fmt: skip
    return path


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the registry's cached extractor instances for one test: an
    instance is made once per process, with the configuration of that moment."""
    from ml.features import registry

    monkeypatch.setattr(registry, "_instances", {})


@pytest.fixture
def no_pretrained_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("V2M_VGGISH_WEIGHTS", "V2M_VGGISH_PCA", "V2M_IMAGENET_WEIGHTS",
                     "V2M_IMAGENET_ARCH"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
