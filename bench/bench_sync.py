"""Benchmark: the best synchronisation offset of a query video on every track of a shortlist.

A shortlist of tracks with 1.8-2.6 s bars (3-4 min each, a section boundary every 8
bars) and a query video with cuts; :func:`ml.sync.offset.best_offsets` tries, per
track, a prior offset and every downbeat at which the video fits, and keeps the best.
Prints, per video length, the candidate offsets scored, and the median CPU time
(of this process: steadier than wall time on a shared machine) and wall time of one
call over the whole shortlist. numpy runs it on one core.

    python -m bench.bench_sync [--tracks 1000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ml.sync.offset import TrackEvents, best_offsets


def shortlist(n_tracks: int, rng: np.random.Generator) -> list[TrackEvents]:
    tracks = []
    for _ in range(n_tracks):
        duration = rng.uniform(180.0, 240.0)
        downbeats = rng.uniform(0.0, 1.0) + np.cumsum(rng.uniform(1.8, 2.6, 140))
        downbeats = downbeats[downbeats < duration]
        boundaries = np.concatenate([[0.0], downbeats[8::8], [duration]])
        tracks.append(TrackEvents(downbeats, boundaries, duration))
    return tracks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tracks = shortlist(args.tracks, rng)
    print(
        f"{args.tracks} tracks, {sum(t.downbeats_s.size for t in tracks) / args.tracks:.0f} "
        "downbeats each on average"
    )
    print(f"{'video s':>8}  {'cuts':>5}  {'offsets':>8}  {'cpu ms':>7}  {'wall ms':>7}")
    for video_s in (15.0, 30.0, 60.0):
        cuts = np.sort(rng.uniform(0.0, video_s, int(video_s / 2.5)))
        priors = rng.uniform(0.0, 100.0, args.tracks)
        cpu, wall = [], []
        for _ in range(args.repeats):
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            result = best_offsets(cuts, video_s, tracks, prior_offsets_s=priors)
            cpu.append(time.process_time() - start_cpu)
            wall.append(time.perf_counter() - start_wall)
        print(
            f"{video_s:8.0f}  {cuts.size:5d}  {int(result.n_candidates.sum()):8d}  "
            f"{1000 * float(np.median(cpu)):7.1f}  {1000 * float(np.median(wall)):7.1f}"
        )


if __name__ == "__main__":
    main()
