"""Benchmark: extraction cost of the pretrained extractors per minute of media.

Weight *values* do not change the cost, so the networks are loaded from weight
files generated here in the published layouts (random values), exactly as a
deployment's files would be. For each extractor the run times ``extract`` on
the same media and prints seconds per minute of media, against the handcrafted
extractor of the same modality measured in the same run (the baseline):

* ``vggish`` on a 60 s synthetic signal (a chord and noise bursts) at 16 kHz;
* ``imagenet`` (ResNet-18 and ResNet-50) on 60 s of random-texture frames at
  its rate, 2 frames per second, 456 x 256.

    python -m bench.bench_pretrained [--seconds 60] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ml.features import get_extractor
from ml.features.pretrained.image import FRAME_RATE, FRAME_SIZE, ImageNetVideo
from ml.features.pretrained.resnet import resnet
from ml.features.pretrained.vggish import SAMPLE_RATE, VGGishAudio
from ml.features.pretrained.vggish_net import VGGishNet


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _signal(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63))
    noise = np.random.default_rng(0).standard_normal(t.size) * 0.1 * (np.sin(2 * np.pi * t) > 0)
    return (chord + noise).astype(np.float32)


def _frames(seconds: float) -> np.ndarray:
    width, height = FRAME_SIZE
    n = int(seconds * FRAME_RATE)
    return np.random.default_rng(0).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    per_minute = 60.0 / args.seconds
    print(f"{args.seconds:.0f} s of media, best of {args.repeats}, torch threads "
          f"{torch.get_num_threads()}; seconds of compute per minute of media")  # fmt: skip

    y = _signal(args.seconds)
    frames = _frames(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        vggish_path = Path(tmp) / "vggish.pth"
        torch.save(VGGishNet().state_dict(), vggish_path)
        os.environ["V2M_VGGISH_WEIGHTS"] = str(vggish_path)
        os.environ.pop("V2M_VGGISH_PCA", None)
        vggish = VGGishAudio()

        baseline_audio = get_extractor("handcrafted", "audio")
        y_22k = _signal(args.seconds)  # handcrafted analyses at its own rate
        if baseline_audio.sample_rate != SAMPLE_RATE:
            import librosa

            y_22k = librosa.resample(y, orig_sr=SAMPLE_RATE, target_sr=baseline_audio.sample_rate)
        base = _best_time(lambda: baseline_audio.extract(y_22k, baseline_audio.sample_rate),
                          args.repeats)  # fmt: skip
        cost = _best_time(lambda: vggish.extract(y, SAMPLE_RATE), args.repeats)
        print(f"audio/handcrafted        {base * per_minute:7.2f} s/min  (baseline)")
        print(
            f"audio/vggish             {cost * per_minute:7.2f} s/min  x{cost / base:.1f} baseline"
        )

        baseline_video = get_extractor("handcrafted", "video")
        small = _frames_at(frames, baseline_video.frame_size, baseline_video.frame_rate)
        base = _best_time(lambda: baseline_video.extract(small, baseline_video.frame_rate),
                          args.repeats)  # fmt: skip
        print(f"video/handcrafted        {base * per_minute:7.2f} s/min  (baseline)")
        for arch in ("resnet18", "resnet50"):
            torch.manual_seed(0)
            path = Path(tmp) / f"{arch}.pth"
            torch.save(resnet(arch).state_dict(), path)
            os.environ["V2M_IMAGENET_WEIGHTS"] = str(path)
            os.environ["V2M_IMAGENET_ARCH"] = arch
            extractor = ImageNetVideo()
            cost = _best_time(lambda e=extractor: e.extract(frames, FRAME_RATE), args.repeats)
            label = f"video/imagenet:{arch}"
            print(f"{label:23s}{cost * per_minute:7.2f} s/min  x{cost / base:.1f} baseline")


def _frames_at(frames: np.ndarray, size: tuple[int, int], fps: float | None) -> np.ndarray:
    """The benchmark frames resampled to the baseline extractor's rate and size
    (nearest neighbour: only the cost matters here)."""
    width, height = size
    n = max(1, round(frames.shape[0] * (fps or FRAME_RATE) / FRAME_RATE))
    picks = np.minimum((np.arange(n) * FRAME_RATE / (fps or FRAME_RATE)).astype(int),
                       frames.shape[0] - 1)  # fmt: skip
    rows = np.arange(height) * frames.shape[1] // height
    cols = np.arange(width) * frames.shape[2] // width
    return np.ascontiguousarray(frames[picks][:, rows][:, :, cols])


if __name__ == "__main__":
    main()
