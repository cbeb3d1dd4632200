"""Benchmark: the analysis of one catalog track, per stage and against naive library calls.

For each track (real music from the Debian package ``wesnoth-music``; ``--audio``
takes any files) it prints:

* seconds of processing per minute of audio for each stage run alone, in this
  process: decode (one ffmpeg pipe at 44.1 kHz), MSAF's feature pass (shared by the
  three algorithms), foote, sf, olda (each given those features), downbeats
  (madmom RNN + DBN), frame features (``handcrafted``);
* ``analyse_track`` end to end (downbeats in its worker process, warmed up once
  beforehand, as in a long-running ingest worker);
* the naive way, each library on the file on its own: ``msaf.process`` once per
  algorithm, madmom's processors on the file, ``librosa.load`` + the frame
  features. Two variants: each ``msaf.process`` with a private feature cache (what
  ``ml.compat`` makes it do, the only safe way with parallel workers), and MSAF's
  stock shared cache file (so its algorithms reuse one feature pass: the most
  favourable case for the baseline);
* the speed-ups over both, and peak resident memory (this process, and the
  worker / child processes).

    python -m bench.bench_analysis [--tracks 1] [--audio FILE ...]
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml import compat
from ml.media.beats import track_beats
from ml.media.decode import load_audio
from ml.media.structure import METHODS, msaf_boundaries, structure_features
from ml.pipeline.analysis import analyse_track, shutdown_worker

QUICK_TRACKS = ("main_menu.ogg", "breaking_the_chains.ogg", "elvish-theme.ogg")


def default_tracks(n: int) -> list[Path]:
    found = sorted(glob.glob("/usr/share/games/wesnoth/*/data/core/music"))
    if not found:
        raise SystemExit("install the Debian package wesnoth-music, or pass --audio FILE")
    return [Path(found[-1]) / name for name in QUICK_TRACKS[:n]]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def naive(path: Path, shared_msaf_cache: bool) -> float:
    """Every library on the file by itself, as their documentation shows."""
    import librosa
    import msaf
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    from ml.features.registry import get_extractor

    process = msaf.process.__wrapped__ if shared_msaf_cache else msaf.process
    start = time.perf_counter()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        # msaf writes <dir of the audio's folder>/estimations: work on a copy.
        copy = Path(tmp) / "audio" / path.name
        copy.parent.mkdir()
        shutil.copy(path, copy)
        os.chdir(tmp)  # where MSAF's stock cache file goes
        try:
            for method in METHODS:
                process(str(copy), boundaries_id=method)
        finally:
            os.chdir(cwd)
        activations = RNNDownBeatProcessor()(str(copy))
        DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)(activations)
        y, sr = librosa.load(str(copy), sr=22050)
        get_extractor("handcrafted", "audio").extract(y, sr)
    return time.perf_counter() - start


def stages(path: Path) -> dict[str, float]:
    from ml.features.registry import get_extractor

    out: dict[str, float] = {}
    y44, out["decode"] = timed(lambda: load_audio(path, sr=44100))
    y22, _ = timed(lambda: load_audio(path, sr=22050))
    features, out["msaf features"] = timed(lambda: structure_features(y22, 22050))
    for method in METHODS:
        _, out[method] = timed(lambda m=method: msaf_boundaries(features, m))
    _, out["downbeats"] = timed(lambda: track_beats(y44, 44100))
    extractor = get_extractor("handcrafted", "audio")
    _, out["features (handcrafted)"] = timed(lambda: extractor.extract(y22, 22050))
    return out


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1, help="how many wesnoth tracks")
    parser.add_argument("--audio", nargs="*", type=Path, help="audio files instead")
    args = parser.parse_args()
    paths = args.audio or default_tracks(args.tracks)
    compat.apply()

    # Warm-up on a short excerpt: numba compilation, madmom's networks, the worker.
    warm = load_audio(paths[0], sr=44100)[: 44100 * 15]
    analyse_track((warm, 44100))
    track_beats(warm, 44100)

    for path in paths:
        minutes = len(load_audio(path, sr=22050)) / 22050 / 60.0
        print(f"\n== {path.name}: {minutes * 60:.0f} s of audio")
        per_stage = stages(path)
        print(f"{'stage (alone)':<26}{'s / min of audio':>18}")
        for stage, seconds in per_stage.items():
            print(f"{stage:<26}{seconds / minutes:>18.2f}")

        result, ours = timed(lambda p=path: analyse_track(p))
        private = naive(path, shared_msaf_cache=False)
        shared = naive(path, shared_msaf_cache=True)
        print(f"{'analyse_track':<26}{ours / minutes:>18.2f}   ({ours:.1f} s)")
        print(f"{'naive, private MSAF cache':<26}{private / minutes:>18.2f}   ({private:.1f} s)")
        print(f"{'naive, shared MSAF cache':<26}{shared / minutes:>18.2f}   ({shared:.1f} s)")
        print(f"speed-up over naive (private cache): {private / ours:.2f}x   (goal >= 2x)")
        print(f"speed-up over naive (shared cache):  {shared / ours:.2f}x")
        print(
            "analyse_track stages (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in result.timings_s.items())
        )
    shutdown_worker()  # so that its peak memory is counted below
    print(
        f"\npeak RSS: this process {peak_mb(resource.RUSAGE_SELF):.0f} MB, "
        f"largest child {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB "
        f"(ffmpeg, the downbeat worker)"
    )


if __name__ == "__main__":
    main()
