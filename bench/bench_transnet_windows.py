"""Benchmark: can the ``transnet`` video features come from fewer TransNetV2 windows?

    python -m bench.bench_transnet_windows [--seconds 20] [--step 13]

The ``transnet`` features are, for each second, the mean of TransNetV2's 1,024-d
embedding over the second's frames, each frame's embedding taken from the full
pass's window that keeps it (100 frames, the central 50 kept, a window every 50
frames). On a generated edited video (:func:`bench.bench_shots.write_edited_video`,
25 fps) this measures what reading them from fewer windows would cost in fidelity:

* **a frame's position in its window**: windows placed off the full pass's grid
  (every ``--step`` frames) give every frame's embedding at each of the 100 positions;
  printed is its cosine similarity and relative L2 error to the full pass's, by band
  of positions (the full pass uses 25-74);
* **one frame a second**: the embedding of the middle frame of each second against
  the mean of the second (the feature as defined);
* **windows needed**: how many of the grid's windows hold a given second's middle
  frame, i.e. the windows a one-frame-a-second feature needs, against the grid.

With ``--backends`` it compares instead the shot detector's backends on the CPU
(:mod:`ml.media.shot_backends`): PyTorch against ONNX Runtime at the graph
optimisation levels ``all`` (the default backend) and ``extended``, with
``--threads`` intra-op threads each (2 by default), in one run, alternating them so
that a busy machine slows all alike. On generated edited videos of each length in
``--durations`` (the videos of ``bench query``: same generator, seeds and shot
lengths) it prints the median time of one window (over ``--windows`` windows), the
full pass with features and the cascade, and against PyTorch's full pass: the
largest probability and embedding differences, whether the boundaries are
identical (full pass and cascade), F1 within 2 frames, and the boundaries at hard cuts;
and a window's floating-point operations (counted on the PyTorch network) over its
median time, the rate each backend reaches.

    python -m bench.bench_transnet_windows --backends [--durations 30 60] [--windows 6]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.bench_shots import boundary_agreement, near, write_edited_video
from ml.features.transnet import transnet_features
from ml.media.decode import load_video_frames
from ml.media.shot_backends import OnnxShotNetwork, export_onnx
from ml.media.shot_network import KEPT_FRAMES, WINDOW_FRAMES
from ml.media.shots import ShotDetector, network_windows

FPS = 25.0
BANDS = ((0, 12), (12, 25), (25, 75), (75, 88), (88, 100))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of ``(n, d)`` arrays, ``(n,)``."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)


def relative_error(a: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Row-wise ``|a - reference| / |reference|``, ``(n,)``."""
    return np.linalg.norm(a - reference, axis=1) / np.maximum(
        np.linalg.norm(reference, axis=1), 1e-12
    )


def off_grid_embeddings(
    detector: ShotDetector, frames: np.ndarray, starts: range
) -> list[tuple[int, np.ndarray]]:
    """All 100 rows' embeddings of windows on video frames ``[s, s + 100)``."""
    out = []
    with torch.inference_mode():
        for start in starts:
            window = torch.from_numpy(frames[start : start + WINDOW_FRAMES][None])
            window = window.to(detector.device)
            embedding = detector.network(window, rows=slice(0, WINDOW_FRAMES))[1][0]
            out.append((start, embedding.cpu().numpy()))
    return out


def backend_detectors(threads: int) -> dict[str, tuple[ShotDetector, ShotDetector]]:
    """(full pass, cascade) detectors on the CPU for each backend compared, by name."""
    torch.set_num_threads(threads)
    model = export_onnx()
    out = {}
    for name, backend in (
        ("PyTorch", ShotDetector(device="cpu", backend="torch").backend),
        ("ONNX Runtime, all", OnnxShotNetwork(model, threads=threads, optimization="all")),
        (
            "ONNX Runtime, extended",
            OnnxShotNetwork(model, threads=threads, optimization="extended"),
        ),
    ):
        pair = (ShotDetector(device="cpu", mode="full"), ShotDetector(device="cpu", mode="cascade"))
        for detector in pair:
            detector.backend = backend  # the same detector, another backend object
        out[name] = pair
    return out


def window_gflop() -> float:
    """Floating-point operations of one 100-frame window, in GFLOP (multiply-adds count
    two), counted by ``torch.utils.flop_counter`` on the PyTorch network."""
    from torch.utils.flop_counter import FlopCounterMode

    from ml.media.shot_network import FRAME_HEIGHT, FRAME_WIDTH, TransNetV2Inference

    network = TransNetV2Inference.from_package().eval()
    window = torch.zeros((1, WINDOW_FRAMES, FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=torch.uint8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(window)
    return counter.get_total_flops() / 1e9


def _timed(fn, *args, **kwargs):
    """Seconds ``fn(*args, **kwargs)`` took, and its result."""
    began = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - began, result


def backends_main(args: argparse.Namespace) -> None:
    """Time and compare the backends (see the module's docstring)."""
    detectors = backend_detectors(args.threads)
    names = list(detectors)
    print(f"{args.threads} intra-op threads per backend; backends: {', '.join(names)}")
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.durations:
            video = write_edited_video(
                Path(tmp) / f"edited-{seconds:g}s.mp4", seconds, FPS, seed=int(seconds),
                min_shot_s=2.0, max_shot_s=8.0,
            )  # fmt: skip
            frames = load_video_frames(video.path, None, 48, 27)
            grid = -(-len(frames) // KEPT_FRAMES)
            chosen = np.linspace(0, grid - 1, min(args.windows, grid)).astype(int)
            window_s = {name: [] for name in names}
            for k in chosen:  # one window at a time, backends alternating
                for name in names:
                    full_pass = detectors[name][0]
                    window_s[name].append(_timed(full_pass.window_probabilities, frames, [k])[0])
            full = {
                n: _timed(d.detect, frames, return_features=True) for n, (d, _) in detectors.items()
            }
            cascade = {n: _timed(d.detect, frames) for n, (_, d) in detectors.items()}
            table.append((seconds, video, grid, window_s, full, cascade))
    _print_backends(names, table, window_gflop())


def _print_backends(names: list[str], table: list[tuple], gflop: float) -> None:
    print(f"\nOne window: {gflop:.1f} GFLOP; the rate is that over the median window's time.")
    print(
        "\n| video | backend | one window (median) | GFLOP/s | full pass + features | / duration | "
        "cascade | / duration | max prob. diff | max emb. diff | boundaries identical "
        "(full, cascade) | cascade F1 (2 frames) | hard cuts identical |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for seconds, video, grid, window_s, full, cascade in table:
        reference = full[names[0]][1]
        cuts = video.frames_of("cut")
        for name in names:
            (t_full, ours), (t_cascade, shots) = full[name], cascade[name]
            prob = np.abs(ours.probabilities - reference.probabilities).max()
            emb = np.abs(ours.embeddings - reference.embeddings).max()
            same = (np.array_equal(ours.boundaries, reference.boundaries),
                    np.array_equal(shots.boundaries, cascade[names[0]][1].boundaries))  # fmt: skip
            _, f1 = boundary_agreement(shots.boundaries, reference.boundaries)
            cut_same = np.array_equal(
                near(shots.boundaries, cuts), near(reference.boundaries, cuts)
            )
            print(
                f"| {seconds:g} s ({grid} windows) | {name} | {statistics.median(window_s[name]):.2f} s | "
                f"{gflop / statistics.median(window_s[name]):.0f} | "
                f"{t_full:.1f} s | {t_full / seconds:.2f}x | {t_cascade:.1f} s | "
                f"{t_cascade / seconds:.2f}x | {prob:.1e} | {emb:.1e} | "
                f"{'yes' if same[0] else 'NO'}, {'yes' if same[1] else 'NO'} | {f1:.3f} | "
                f"{'yes' if cut_same else 'NO'} ({len(cuts)}) |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--step", type=int, default=13, help="frames between off-grid windows")
    parser.add_argument("--backends", action="store_true", help="compare the CPU backends")
    parser.add_argument("--durations", type=float, nargs="+", default=[30.0, 60.0])
    parser.add_argument("--windows", type=int, default=6, help="windows timed one by one")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    args = parser.parse_args()
    if args.backends:
        backends_main(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        video = write_edited_video(Path(tmp) / "edited.mp4", args.seconds, FPS, seed=3)
        frames = load_video_frames(video.path, None, 48, 27)
    n = len(frames)
    detector = ShotDetector(device="cpu", mode="full", backend="torch")
    full = detector.detect(frames, return_features=True)
    print(f"{n} frames at {FPS:g} fps, {len(video.kinds)} transitions; full pass with features")

    by_band: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {b: [] for b in BANDS}
    for start, embedding in off_grid_embeddings(
        detector, frames, range(0, n - WINDOW_FRAMES, args.step)
    ):
        reference = full.embeddings[start : start + WINDOW_FRAMES]
        cos, rel = cosine(embedding, reference), relative_error(embedding, reference)
        for lo, hi in BANDS:
            by_band[(lo, hi)].append((cos[lo:hi], rel[lo:hi]))
    print("\n| position in window | cosine, min | cosine, mean | relative error, mean | max |")
    print("| --- | --- | --- | --- | --- |")
    for (lo, hi), parts in by_band.items():
        cos = np.concatenate([c for c, _ in parts])
        rel = np.concatenate([r for _, r in parts])
        print(
            f"| {lo}-{hi - 1} | {cos.min():.4f} | {cos.mean():.4f} | {rel.mean():.3f} | "
            f"{rel.max():.3f} |"
        )

    per_second = transnet_features(full, FPS)
    middle = np.minimum((np.arange(len(per_second)) + 0.5) * FPS, n - 1).astype(int)
    cos = cosine(full.embeddings[middle], per_second)
    rel = relative_error(full.embeddings[middle], per_second)
    print(
        f"\none frame a second (the middle frame) against the second's mean: cosine min "
        f"{cos.min():.4f}, mean {cos.mean():.4f}; relative error mean {rel.mean():.3f}"
    )
    sample = np.zeros(n, dtype=bool)
    sample[middle] = True
    needed = len(network_windows(sample))
    grid = -(-n // KEPT_FRAMES)
    print(
        f"windows holding a second's middle frame: {needed} of the grid's {grid} "
        f"(a window keeps {KEPT_FRAMES} frames = {KEPT_FRAMES / FPS:g} s)"
    )


if __name__ == "__main__":
    main()
