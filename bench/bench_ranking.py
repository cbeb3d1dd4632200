"""Benchmark of the ranking kernel: rerank one query against a shortlist.

Run ``python -m bench.bench_ranking`` (``--help`` for sizes). Everything is
measured in the same run and reported as ratios, because absolute times depend
on the machine and on whatever else runs on it:

1. each cost against the bare similarity GEMM over the same segments
   (``vectors @ query.T``, BLAS), which is the floor any similarity-based cost
   must pay (goals: NW/SW-DTW <= 1.5x, trace/best trace <= 1.2x);
2. NW-DTW against ``librosa.sequence.dtw``, ``dtaidistance`` and ``tslearn``
   (classic DTW, one call per candidate, on the same embeddings);
3. NW-DTW (and the other costs) against the published timings (i7-6850K,
   1,000 queries x 1,000 tracks; different hardware, so only a rough ratio);
4. float16 storage: time, memory, and how much the rankings change;
5. Numba compilation: first call with an empty cache, then with a warm cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable

import numba
import numpy as np

from ml.ranking import METHODS, PackedSegments, batch_distances, warm_up

#: Published seconds to rank 1,000 queries against 1,000 tracks (docs/method.md §7).
PUBLISHED_MS_PER_QUERY = {"trace": 53.0, "best_trace": 95.0, "nw_dtw": 821.0, "sw_dtw": 1274.0}
GOALS = {"trace": 1.2, "best_trace": 1.2, "nw_dtw": 1.5, "sw_dtw": 1.5}


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_catalog(
    rng: np.random.Generator, n_tracks: int, dim: int, k_min: int, k_max: int
) -> list[np.ndarray]:
    """Tracks whose segments scatter around a per-track direction (as real songs do)."""
    tracks = []
    for _ in range(n_tracks):
        n = int(rng.integers(k_min, k_max + 1))
        centre = rng.standard_normal(dim)
        tracks.append(unit_rows(centre + 1.5 * rng.standard_normal((n, dim))))
    return tracks


def make_query(rng: np.random.Generator, track: np.ndarray, n_query: int) -> np.ndarray:
    """A video of ``n_query`` shots cut from a track's segments, seen through noise."""
    picks = np.sort(rng.integers(0, len(track), n_query))
    return unit_rows(track[picks] + 0.5 * rng.standard_normal((n_query, track.shape[1])))


def blocked_times(
    functions: dict[str, Callable[[], object]], repeats: int, sweeps: int = 3
) -> dict[str, float]:
    """Best-of-``sweeps`` median time of each function, each timed in a block of calls.

    Calls of one function are consecutive: BLAS worker threads spin for a while
    after a GEMM, and timing a Numba call right after one would measure that
    contention for the cores, not the kernel.
    """
    best = {name: np.inf for name in functions}
    for _ in range(sweeps):
        for name, fn in functions.items():
            for _ in range(3):
                fn()
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t0)
            best[name] = min(best[name], float(np.median(samples)))
    return best


def bench_costs_vs_gemm(
    packed: PackedSegments, queries: list[np.ndarray], rounds: int, vectors: np.ndarray
) -> dict[str, float]:
    """Median ms per query of every cost and of the GEMM ``vectors @ query.T``."""
    rows = np.arange(packed.n_tracks)
    functions: dict[str, Callable[[], object]] = {}
    for i, query in enumerate(queries):
        functions[f"gemm/{i}"] = lambda q=query: vectors @ q.T
        for method in METHODS:
            functions[f"{method}/{i}"] = lambda q=query, m=method: batch_distances(
                q, packed, rows, m
            )
    times = blocked_times(functions, rounds)
    per_method = {"gemm": np.median([times[f"gemm/{i}"] for i in range(len(queries))])}
    for method in METHODS:
        per_method[method] = np.median([times[f"{method}/{i}"] for i in range(len(queries))])
    return per_method


def bench_external_dtw(
    tracks: list[np.ndarray], query: np.ndarray, n_candidates: int
) -> list[tuple[str, float | None, str]]:
    """Seconds per candidate of classic-DTW libraries and of our NW-DTW on one thread.

    The libraries align one pair per call on one thread, so ours runs on one
    Numba thread too; each library is timed right after ours, so that load from
    other processes affects both alike.
    """
    subset = tracks[:n_candidates]
    packed = PackedSegments.from_sequences(subset)
    rows = np.arange(len(subset))

    def per_candidate(fn: Callable[[np.ndarray], object]) -> float:
        fn(subset[0])
        t0 = time.perf_counter()
        for track in subset:
            fn(track)
        return (time.perf_counter() - t0) / len(subset)

    def ours() -> float:
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return blocked_times({"nw": lambda: batch_distances(query, packed, rows, "nw_dtw")}, 5)[
                "nw"
            ] / len(subset)
        finally:
            numba.set_num_threads(threads)

    def librosa_dtw() -> Callable[[np.ndarray], object]:
        import librosa

        query_t = np.ascontiguousarray(query.T)
        return lambda t: librosa.sequence.dtw(
            X=np.ascontiguousarray(t.T), Y=query_t, metric="sqeuclidean"
        )

    def dtaidistance_dtw() -> Callable[[np.ndarray], object]:
        from dtaidistance import dtw_ndim

        query64 = query.astype(np.float64)
        as64 = {id(t): t.astype(np.float64) for t in subset}
        return lambda t: dtw_ndim.distance_fast(as64[id(t)], query64)

    def tslearn_dtw() -> Callable[[np.ndarray], object]:
        from tslearn.metrics import dtw

        return lambda t: dtw(t, query)

    libraries: list[tuple[str, Callable[[], Callable[[np.ndarray], object]], str]] = [
        ("librosa.sequence.dtw", librosa_dtw, "cdist + DP per pair"),
        ("dtaidistance dtw_ndim.distance_fast", dtaidistance_dtw, "C, float64, per pair"),
        ("tslearn.metrics.dtw", tslearn_dtw, "Numba, per pair"),
    ]
    results: list[tuple[str, float | None, str]] = []
    for name, make, note in libraries:
        try:
            fn = make()
        except ImportError:
            results.append((name, None, "not installed"))
            continue
        ours_seconds = ours()
        results.append((name, per_candidate(fn) / ours_seconds, note))
        results.append(("  ours nw_dtw, 1 thread, same data", ours_seconds, "us per candidate"))
    return results


def ranking_change(
    packed: PackedSegments, half: PackedSegments, queries: list[np.ndarray], k: int = 10
) -> dict[str, tuple[float, float, float]]:
    """Per cost: mean top-k overlap, top-1 agreement, max |distance change|."""
    rows = np.arange(packed.n_tracks)
    change = {}
    for method in METHODS:
        overlaps, same_first, max_delta = [], [], 0.0
        for query in queries:
            full = batch_distances(query, packed, rows, method)
            rounded = batch_distances(query, half, rows, method)
            top_full, top_half = (
                np.argsort(full, kind="stable")[:k],
                np.argsort(rounded, kind="stable")[:k],
            )
            overlaps.append(len(set(top_full) & set(top_half)) / k)
            same_first.append(top_full[0] == top_half[0])
            max_delta = max(max_delta, float(np.abs(full - rounded).max()))
        change[method] = (float(np.mean(overlaps)), float(np.mean(same_first)), max_delta)
    return change


COMPILE_SCRIPT = textwrap.dedent(
    """
    import time
    t0, c0 = time.perf_counter(), time.process_time()
    from ml.ranking import warm_up
    warm_up()
    print(time.perf_counter() - t0, time.process_time() - c0)
    """
)


def bench_compile() -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, cpu) seconds of import + first call, with an empty then a warm Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", COMPILE_SCRIPT],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            wall, cpu = map(float, out.stdout.split())
            runs.append((wall, cpu))
    return runs[0], runs[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=1000, help="candidates to rerank")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--query-segments", type=int, default=10)
    parser.add_argument("--min-segments", type=int, default=6)
    parser.add_argument("--max-segments", type=int, default=20)
    parser.add_argument("--queries", type=int, default=8, help="distinct queries timed")
    parser.add_argument("--rounds", type=int, default=30, help="timing rounds per query")
    parser.add_argument("--external", type=int, default=200, help="candidates timed per library")
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    tracks = make_catalog(rng, args.tracks, args.dim, args.min_segments, args.max_segments)
    packed = PackedSegments.from_sequences(tracks)
    queries = [
        make_query(rng, tracks[int(t)], args.query_segments)
        for t in rng.integers(0, args.tracks, args.queries)
    ]
    warm_up((np.float32, np.float16))
    batch_distances(queries[0], packed, np.arange(64), "trace")  # starts the thread pool
    print(
        f"rerank: {args.tracks} candidates, Kc {args.min_segments}..{args.max_segments} "
        f"({packed.vectors.shape[0]} segments), Kq {args.query_segments}, d {args.dim}; "
        f"{numba.get_num_threads()} Numba threads ({numba.threading_layer()} layer), "
        f"{os.cpu_count()} CPUs visible"
    )

    times = bench_costs_vs_gemm(packed, queries, args.rounds, packed.vectors)
    gemm = times["gemm"]
    print(f"\n1. cost vs bare similarity GEMM (vectors @ query.T = {gemm * 1e3:.3f} ms)")
    print(f"   {'cost':<11} {'ms/query':>9} {'x GEMM':>7}  goal")
    for method in METHODS:
        goal = f"<= {GOALS[method]}x" if method in GOALS else ""
        print(f"   {method:<11} {times[method] * 1e3:9.3f} {times[method] / gemm:7.2f}  {goal}")

    print(f"\n2. vs DTW libraries (classic DTW, one pair per call), {args.external} candidates")
    for name, value, note in bench_external_dtw(tracks, queries[0], args.external):
        if value is None:
            print(f"   {name:<38} {note}")
        elif name.startswith("  ours"):
            print(f"   {name:<38} {value * 1e6:8.2f} {note}")
        else:
            print(f"   {name:<38} {value:8.1f}x slower than ours  ({note})")

    print("\n3. vs published per-query timings (i7-6850K, different hardware; goal >= 300x for NW)")
    for method, published in PUBLISHED_MS_PER_QUERY.items():
        print(
            f"   {method:<11} published {published:7.1f} ms, ours {times[method] * 1e3:7.3f} ms:"
            f" {published / (times[method] * 1e3):8.0f}x"
        )

    half = packed.astype(np.float16)
    half_times = bench_costs_vs_gemm(half, queries, max(args.rounds // 3, 5), packed.vectors)
    change = ranking_change(packed, half, queries)
    print(f"\n4. float16 storage: {half.nbytes / 2**20:.1f} MiB vs {packed.nbytes / 2**20:.1f} MiB")
    print(
        f"   {'cost':<11} {'f16/f32 time':>12} {'top-10 overlap':>15} {'same top-1':>11} {'max |delta|':>12}"
    )
    for method in METHODS:
        overlap, first, delta = change[method]
        speed = half_times[method] / half_times["gemm"] / (times[method] / gemm)
        print(f"   {method:<11} {speed:12.2f} {overlap:15.3f} {first:11.3f} {delta:12.2e}")

    if not args.skip_compile:
        (cold_wall, cold_cpu), (warm_wall, warm_cpu) = bench_compile()
        print("\n5. import + first call (compile), in a fresh process")
        print(f"   empty Numba cache: {cold_wall:6.2f} s wall, {cold_cpu:6.2f} s CPU")
        print(f"   warm Numba cache:  {warm_wall:6.2f} s wall, {warm_cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
