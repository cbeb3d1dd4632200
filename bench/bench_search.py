"""Two-stage catalog search at scale: latency, memory, build time and recall.

For each catalog size, a synthetic clustered catalog (about 13 segments per
track) is indexed with :class:`app.index.catalog.CatalogIndex`, and queries
(perturbed excerpts of catalog tracks, like a video cut from a track) are run
through the two-stage search. Measured in one run:

* build time and memory per track (index + packed segments + metadata);
* p50 / p99 latency per query of the whole search (shortlist + rerank), and of
  each stage;
* recall@shortlist of the centroid shortlist against exact (brute-force)
  centroid search;
* recall@k of the final top-k against exhaustive reranking of the whole
  catalog with the same cost, which is also the baseline the speed-up is
  reported against;
* the shortlist-size curve (latency and final recall per shortlist size) and,
  for IVF catalogs, the nprobe curve (shortlist recall and latency).

Defaults are modest (10k tracks, d = 512, a few minutes on 2 cores). The issue's
sizes::

    python -m bench.bench_search --sizes 10000,100000 --dim 512
    python -m bench.bench_search --sizes 1000000 --dim 128 --dtype float16 \
        --exhaustive-queries 10

With ``--backend milvus`` the same catalog is also loaded into a Milvus collection
(:class:`app.index.milvus.MilvusCatalogIndex`, Milvus Lite in a temporary file unless
``--milvus-url`` names a server) and both backends are measured side by side in one
run: p50 / p99 latency without and with a filter of about 1% selectivity, recall of
the Milvus shortlist against exact centroid search, and top-k agreement with FAISS::

    python -m bench search --backend milvus --sizes 100000 --dim 128 --queries 50

Threads default to 2 (FAISS's OpenMP and Numba); pin the process to as many
cores (``taskset -c 0,1``) for numbers comparable with a 2-core server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import faiss
import numba
import numpy as np

from app.index.catalog import CatalogIndex
from app.index.centroids import IvfParams
from app.index.metadata import SearchFilters
from bench.synthetic_catalog import clustered_catalog, make_query
from ml.ranking import batch_distances


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _exact_shortlists(index: CatalogIndex, queries: list[np.ndarray], n: int) -> list[set[int]]:
    """Brute-force top-n by cosine of normalised centroids (what the index approximates)."""
    state = index._state  # the bench reads the index's own arrays: no second copy
    ids, centroids = state.centroids.contents()
    qc = np.stack([q.mean(0) / np.linalg.norm(q.mean(0)) for q in queries]).astype(np.float32)
    sims = np.empty((len(queries), len(ids)), np.float32)
    for start in range(0, len(ids), 200_000):
        sims[:, start : start + 200_000] = qc @ centroids[start : start + 200_000].T
    top = np.argpartition(-sims, min(n, len(ids) - 1), axis=1)[:, :n]
    return [set(ids[row].tolist()) for row in top]


def _exhaustive_topk(index: CatalogIndex, query: np.ndarray, k: int, method: str) -> set[int]:
    """Top-k of the cost over every track: the quality ceiling of two-stage search."""
    store = index._state.store
    unit = query / np.linalg.norm(query, axis=1, keepdims=True)
    rows = np.flatnonzero(store.alive)
    distances = batch_distances(unit, store.packed(), rows, method)
    best = np.argsort(distances, kind="stable")[:k]
    return set(store.track_ids[rows[best]].tolist())


def _timed_search(index, queries, **kwargs) -> tuple[list[float], list[list[int]]]:
    times, results = [], []
    for q in queries:
        start = time.perf_counter()
        hits = index.search(q, **kwargs)
        times.append(time.perf_counter() - start)
        results.append([h.track_id for h in hits])
    return times, results


#: About 1% of the synthetic catalog passes it (see tests/app/index/test_catalog.py).
ONE_PERCENT = SearchFilters(licenses={"cc-by"}, tags_all={"tag-01"}, bpm_min=70, bpm_max=170)


def _milvus_shortlist(index, query: np.ndarray, n: int) -> set[int]:
    """The ids of the Milvus centroid shortlist alone (stage 1)."""
    centroid = query.mean(0) / np.linalg.norm(query.mean(0))
    found = index._client.search(  # the bench reads the engine's own answer
        index.name,
        data=[centroid.astype(np.float32).tolist()],
        anns_field="centroid",
        limit=n,
        search_params={"metric_type": "COSINE", "params": index.options.search_params(n)},
    )[0]
    return {int(hit["track_id"]) for hit in found}


def bench_backends(n_tracks: int, args: argparse.Namespace) -> dict:
    """FAISS in-process and Milvus on the same catalog and queries, side by side."""
    import tempfile

    from app.index.milvus import MilvusCatalogIndex, MilvusOptions, milvus_filter

    catalog = clustered_catalog(n_tracks, args.dim, dtype=args.dtype, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    sources = rng.integers(0, n_tracks, args.queries)
    queries = [make_query(catalog, int(i), n_segments=10, seed=int(i)) for i in sources]
    packed = (catalog.track_ids, catalog.vectors, catalog.offsets, catalog.metadata)
    report: dict = {"tracks": n_tracks, "dim": args.dim, "shortlist": args.shortlist}
    faiss_index = CatalogIndex(args.dim, dtype=args.dtype, exact_max=args.exact_max)
    start = time.perf_counter()
    faiss_index.add_tracks(*packed)
    report["faiss_build_s"] = time.perf_counter() - start
    tmp = tempfile.TemporaryDirectory()
    url = args.milvus_url or os.path.join(tmp.name, "bench.db")
    options = MilvusOptions(index_type=args.milvus_index, dtype=args.dtype)
    milvus = MilvusCatalogIndex(url, args.dim, collection=f"bench_{n_tracks}", options=options)
    start = time.perf_counter()
    milvus.add_tracks(*packed)
    milvus.snapshot(".")  # flush: the segments get their index
    report["milvus_build_s"] = time.perf_counter() - start
    passing = milvus._client.query(
        milvus.name, filter=milvus_filter(ONE_PERCENT), output_fields=["count(*)"]
    )
    report["tracks_passing_1%"] = int(passing[0]["count(*)"])
    del catalog, packed
    kwargs = {"k": args.k, "method": args.method, "shortlist": args.shortlist}
    for label, filters in (("all", None), ("1%", ONE_PERCENT)):
        runs = {}
        for name, index in (("faiss", faiss_index), ("milvus", milvus)):
            index.search(queries[0], filters=filters, with_alignment=False, **kwargs)  # warm
            times, results = _timed_search(
                index, queries, filters=filters, with_alignment=False, **kwargs
            )
            runs[name] = results
            report[f"{name}_{label}_p50_ms"], report[f"{name}_{label}_p99_ms"] = _percentiles(times)
        agree = [
            len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(runs["faiss"], runs["milvus"])
        ]
        report[f"top{args.k}_agreement_{label}"] = float(np.mean(agree))
    exact = _exact_shortlists(faiss_index, queries, args.shortlist)
    recall = [
        len(_milvus_shortlist(milvus, q, args.shortlist) & e) / len(e)
        for q, e in zip(queries, exact)
    ]
    report[f"milvus_shortlist_recall@{args.shortlist}"] = float(np.mean(recall))
    milvus.close()
    tmp.cleanup()
    return report


def bench_size(n_tracks: int, args: argparse.Namespace) -> dict:
    report: dict = {
        "tracks": n_tracks,
        "dim": args.dim,
        "dtype": args.dtype,
        "method": args.method,
        "threads": args.threads,
    }
    start = time.perf_counter()
    catalog = clustered_catalog(n_tracks, args.dim, dtype=args.dtype, seed=args.seed)
    report["generate_s"] = time.perf_counter() - start
    report["segments_per_track"] = float(len(catalog.vectors) / n_tracks)

    ivf = IvfParams(args.nlist, args.nprobe) if args.nlist else None
    index = CatalogIndex(
        args.dim, dtype=args.dtype, exact_max=args.exact_max, ivf=ivf, device=args.device
    )
    rss_before = _rss_gib()
    start = time.perf_counter()
    index.add_tracks(catalog.track_ids, catalog.vectors, catalog.offsets, catalog.metadata)
    report["build_s"] = time.perf_counter() - start
    stats = index.stats()
    report.update(
        centroid_index=stats["centroid_index"],
        nlist=stats["nlist"],
        nprobe=stats["nprobe"],
        bytes_per_track=stats["bytes_per_track"],
        index_gib=stats["memory_bytes"] / 1024**3,
        peak_rss_gib=_rss_gib(),
        rss_growth_gib=_rss_gib() - rss_before,
    )

    rng = np.random.default_rng(args.seed + 1)
    sources = rng.integers(0, n_tracks, args.queries)
    queries = [make_query(catalog, int(i), n_segments=10, seed=int(i)) for i in sources]
    del catalog  # the index holds its own copy

    search = {
        "k": args.k,
        "method": args.method,
        "shortlist": args.shortlist,
        "with_alignment": False,
    }
    index.search(queries[0], **search)  # compile / load the Numba kernels
    times, results = _timed_search(index, queries, **search)
    report["p50_ms"], report["p99_ms"] = _percentiles(times)
    report["source_track_in_top_k"] = float(
        np.mean([int(src) + 1 in res for src, res in zip(sources, results)])
    )

    # Stage timings: the shortlist alone, then the rerank of its candidates.
    state = index._state
    shortlist_times = []
    for q in queries:
        centroid = q.mean(0)
        start = time.perf_counter()
        state.centroids.search(centroid, args.shortlist)
        shortlist_times.append(time.perf_counter() - start)
    report["shortlist_p50_ms"], report["shortlist_p99_ms"] = _percentiles(shortlist_times)

    exact = _exact_shortlists(index, queries, args.shortlist)
    recall = [
        len(set(state.centroids.search(q.mean(0), args.shortlist)[0].tolist()) & e) / len(e)
        for q, e in zip(queries, exact)
    ]
    report[f"recall@{args.shortlist}_shortlist_vs_exact"] = float(np.mean(recall))

    # Baseline: exhaustive rerank of the whole catalog (quality ceiling and speed-up).
    n_exh = min(args.exhaustive_queries, len(queries))
    exhaustive, exh_times = [], []
    for q in queries[:n_exh]:
        start = time.perf_counter()
        exhaustive.append(_exhaustive_topk(index, q, args.k, args.method))
        exh_times.append(time.perf_counter() - start)
    report["exhaustive_p50_ms"] = _percentiles(exh_times)[0]
    report["speedup_vs_exhaustive"] = report["exhaustive_p50_ms"] / report["p50_ms"]
    report[f"recall@{args.k}_vs_exhaustive"] = float(
        np.mean([len(set(r) & e) / args.k for r, e in zip(results[:n_exh], exhaustive)])
    )

    curve = []
    for size in args.shortlist_curve:
        t, res = _timed_search(index, queries[:n_exh], **{**search, "shortlist": size})
        curve.append(
            {
                "shortlist": size,
                "p50_ms": _percentiles(t)[0],
                f"recall@{args.k}": float(
                    np.mean([len(set(r) & e) / args.k for r, e in zip(res, exhaustive)])
                ),
            }
        )
    report["shortlist_curve"] = curve

    if state.centroids.kind == "ivf":
        default = state.centroids.nprobe
        sweep = []
        for nprobe in sorted(
            {
                max(1, default // 4),
                max(1, default // 2),
                default,
                min(default * 2, state.centroids.nlist),
            }
        ):
            state.centroids.set_nprobe(nprobe)
            t, rec = [], []
            for q, e in zip(queries, exact):
                start = time.perf_counter()
                got = state.centroids.search(q.mean(0), args.shortlist)[0]
                t.append(time.perf_counter() - start)
                rec.append(len(set(got.tolist()) & e) / len(e))
            p50, p99 = _percentiles(t)
            sweep.append(
                {"nprobe": nprobe, "recall": float(np.mean(rec)), "p50_ms": p50, "p99_ms": p99}
            )
        state.centroids.set_nprobe(default)
        report["nprobe_curve"] = sweep

    # A selective brief (about 1% of the catalog qualifies): still k results?
    brief = SearchFilters(
        licenses={"cc-by"}, tags_any={"tag-01", "tag-02"}, bpm_min=80, bpm_max=140
    )
    t, res = _timed_search(index, queries[:n_exh], **{**search, "filters": brief})
    report["filtered_p50_ms"] = _percentiles(t)[0]
    report["filtered_min_results"] = min(len(r) for r in res)
    return report


def _print(report: dict) -> None:
    n = report["tracks"]
    print(
        f"\n== {n:,} tracks, d={report['dim']} {report['dtype']}, "
        f"{report['segments_per_track']:.1f} segments/track, method={report['method']}, "
        f"{report['threads']} threads =="
    )
    print(
        f"centroid index: {report['centroid_index']} (nlist={report['nlist']}, "
        f"nprobe={report['nprobe']})"
    )
    print(
        f"build {report['build_s']:.1f} s | memory {report['bytes_per_track']:,.0f} B/track "
        f"= {report['index_gib']:.2f} GiB | peak RSS {report['peak_rss_gib']:.1f} GiB"
    )
    print(
        f"search p50 {report['p50_ms']:.2f} ms, p99 {report['p99_ms']:.2f} ms "
        f"(shortlist stage p50 {report['shortlist_p50_ms']:.2f} ms, "
        f"p99 {report['shortlist_p99_ms']:.2f} ms)"
    )
    key_s = next(k for k in report if k.endswith("_shortlist_vs_exact"))
    key_k = next(k for k in report if k.endswith("_vs_exhaustive") and k.startswith("recall"))
    print(
        f"{key_s}: {report[key_s]:.4f} | {key_k}: {report[key_k]:.3f} | "
        f"source track in top-k: {report['source_track_in_top_k']:.3f}"
    )
    print(
        f"baseline exhaustive rerank p50 {report['exhaustive_p50_ms']:.1f} ms -> two-stage "
        f"is {report['speedup_vs_exhaustive']:.1f}x faster"
    )
    print(
        "shortlist curve: "
        + ", ".join(
            f"{c['shortlist']}: {c['p50_ms']:.2f} ms / R={list(c.values())[2]:.3f}"
            for c in report["shortlist_curve"]
        )
    )
    if "nprobe_curve" in report:
        print(
            "nprobe curve: "
            + ", ".join(
                f"{c['nprobe']}: R={c['recall']:.4f} p50 {c['p50_ms']:.2f} p99 {c['p99_ms']:.2f} ms"
                for c in report["nprobe_curve"]
            )
        )
    print(
        f"filtered brief (~1%): p50 {report['filtered_p50_ms']:.2f} ms, "
        f"min results {report['filtered_min_results']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="10000", help="comma-separated catalog sizes (default 10000)"
    )
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--method", default="best_trace")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--shortlist", type=int, default=1000)
    parser.add_argument("--shortlist-curve", default="100,250,500,1000,2000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exhaustive-queries", type=int, default=30)
    parser.add_argument("--exact-max", type=int, default=100_000)
    parser.add_argument("--nlist", type=int, default=0, help="IVF cells (0: automatic)")
    parser.add_argument("--nprobe", type=int, default=0, help="IVF probes (with --nlist)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "auto", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the reports to this file")
    parser.add_argument("--backend", default="faiss", choices=("faiss", "milvus"))
    parser.add_argument("--milvus-url", default="", help="a Milvus server (default: Lite)")
    parser.add_argument("--milvus-index", default="HNSW", choices=("HNSW", "IVF_FLAT"))
    args = parser.parse_args(argv)
    args.shortlist_curve = [int(s) for s in args.shortlist_curve.split(",") if s]
    faiss.omp_set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    print(
        f"bench_search: {os.cpu_count()} CPUs visible, {args.threads} threads used, "
        f"faiss {faiss.__version__}, numba {numba.__version__}"
    )
    reports = []
    for size in (int(s) for s in args.sizes.split(",")):
        if args.backend == "milvus":
            report = bench_backends(size, args)
            print(json.dumps(report, indent=2))
        else:
            report = bench_size(size, args)
            _print(report)
        reports.append(report)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(reports, fh, indent=2)


if __name__ == "__main__":
    main()
