"""Benchmark: cost of the synthetic music-video corpus generator.

Reports CPU seconds per 10 s of generated clip for each stage -- planning
(styles, form, cuts), audio synthesis, frame rendering, H.264 + AAC encoding
of the mp4, FLAC encoding of the track -- measured on the same clips in one
run, and the CPU share of each stage. Then the wall time of
``generate_corpus`` with one worker against ``--workers`` (same clips, fresh
directories), as a speed-up ratio.

Encoding runs in ffmpeg child processes; their CPU time is counted through
``resource.getrusage(RUSAGE_CHILDREN)``.

    python -m bench.bench_synth [--clips 6] [--min-duration 20] [--max-duration 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from ml.synth import ClipSpec, generate_clip, generate_corpus, write_audio, write_video


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def stage_costs(n_clips: int, spec: ClipSpec, out: Path) -> dict[str, float]:
    """CPU seconds spent in each stage over ``n_clips`` clips, and the media seconds."""
    costs = dict.fromkeys(("plan", "audio", "frames", "mp4 encode", "flac encode"), 0.0)
    media_s = 0.0
    for seed in range(n_clips):
        t0 = _cpu(resource.RUSAGE_SELF)
        clip = generate_clip(seed, spec)
        t1 = _cpu(resource.RUSAGE_SELF)
        audio = clip.audio
        t2 = _cpu(resource.RUSAGE_SELF)
        frames = clip.frames
        t3 = _cpu(resource.RUSAGE_SELF)
        c0 = _cpu(resource.RUSAGE_CHILDREN)
        write_video(out / f"{seed}.mp4", frames, spec.fps, audio, spec.sr, threads=1)
        c1 = _cpu(resource.RUSAGE_CHILDREN)
        write_audio(out / f"{seed}.flac", audio, spec.sr)
        c2 = _cpu(resource.RUSAGE_CHILDREN)
        costs["plan"] += t1 - t0
        costs["audio"] += t2 - t1
        costs["frames"] += t3 - t2
        costs["mp4 encode"] += c1 - c0
        costs["flac encode"] += c2 - c1
        media_s += clip.truth.duration_s
    costs["media_s"] = media_s
    return costs


def corpus_wall(n_clips: int, spec: ClipSpec, out: Path, workers: int) -> float:
    start = time.perf_counter()
    generate_corpus(out, n_clips, seed=0, spec=spec, workers=workers)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--min-duration", type=float, default=20.0)
    parser.add_argument("--max-duration", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    spec = ClipSpec(min_duration_s=args.min_duration, max_duration_s=args.max_duration)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _ = generate_clip(10_000, spec).audio  # warm imports and caches outside the timings
        costs = stage_costs(args.clips, spec, tmp / "stages")
        media_s = costs.pop("media_s")
        total = sum(costs.values())
        print(
            f"{args.clips} clips, {media_s:.0f} s of media, {spec.width}x{spec.height} @ {spec.fps:g} fps, "
            f"{spec.sr} Hz"
        )
        print(f"{'stage':<12} {'CPU s / 10 s of clip':>22} {'share':>7}")
        for stage, seconds in costs.items():
            print(f"{stage:<12} {10 * seconds / media_s:>22.3f} {seconds / total:>7.1%}")
        print(
            f"{'total':<12} {10 * total / media_s:>22.3f}   (real time x{media_s / total:.1f} on one core)"
        )

        serial = corpus_wall(args.clips, spec, tmp / "serial", 1)
        parallel = corpus_wall(args.clips, spec, tmp / "parallel", args.workers)
        print(
            f"generate_corpus wall: 1 worker {serial:.2f} s, {args.workers} workers {parallel:.2f} s "
            f"(speed-up x{serial / parallel:.2f}, includes process start-up)"
        )


if __name__ == "__main__":
    main()
