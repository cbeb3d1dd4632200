"""Compile and load, once, everything that compiles itself on first use.

librosa and our ranking kernels are Numba functions cached on disk. Several
processes compiling the same function at once can leave a cache entry that
crashes whoever loads it next, so the install step (and the Docker build) runs
this module once, alone: afterwards every process only reads the caches.

    python -m ml.warmup
"""

from __future__ import annotations

import time

import numpy as np


def warm_up() -> dict[str, float]:
    """Run each compiled path on a small synthetic signal; returns seconds per part."""
    timings = {}
    started = time.perf_counter()
    from ml.ranking import warm_up as warm_ranking

    warm_ranking((np.float32, np.float16))
    timings["ranking"] = time.perf_counter() - started

    started = time.perf_counter()
    from ml.pipeline.analysis import analyse_track, shutdown_worker

    sr = 22050
    t = np.arange(int(12 * sr)) / sr
    clicks = (np.sin(2 * np.pi * 440 * t) * (np.mod(t, 0.5) < 0.05)).astype(np.float32)
    pad = 0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    analyse_track((clicks + pad, sr), segmenter=("foote", "sf", "olda"), parallel=False)
    shutdown_worker()
    timings["analysis"] = time.perf_counter() - started
    return timings


if __name__ == "__main__":
    for part, seconds in warm_up().items():
        print(f"warm-up {part}: {seconds:.1f} s")
