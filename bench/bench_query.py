"""Benchmark: a query video end to end through the service, and the same video asked again.

    python -m bench query [--durations 30 60 180]
    python -m bench.bench_query [--durations 30 60 180] [--tracks 3]

For each duration, a generated edited video (shots of 2-8 s joined by hard cuts,
dissolves, fades through black and wipes: :func:`bench.bench_shots.write_edited_video`)
is measured, in one run and on the same frames:

* **baseline**: the full TransNetV2 pass with its frame features
  (``ShotDetector(mode="full").detect(frames, return_features=True)``), what a query
  cost before the cascade and more than 95% of a query on a CPU;
* **cascade**: the default shot detector (a cheap first pass, then the network on
  candidate windows only), its time and its boundaries against the baseline's: recall
  and F1 within 2 frames, and whether the boundaries at hard cuts are identical;
* **transnet path**: ``POST /recommend/video`` through the real API (uvicorn on
  loopback, the embedded default: SQLite, in-process jobs), with a Seg-VM-Net on
  TransNetV2's video features (``transnet``, 1,024-d, from the full network pass);
* **cascade path**: the same request to a second service whose model reads the
  default ``handcrafted`` video features, so that its shots come from the cascade alone;
* **asked again**: the first video sent again to the ``transnet`` service with another
  cost (``method``): its analysis is reused (``query.reused``); the server-side time
  (``timings_s.total``, the service's own clock) and the client's round trip, which
  adds the upload on loopback and the route's hashing and probing.

Latencies are printed as a ratio of the video's duration and of the baseline.

The two models are Seg-VM-Nets with random weights (seeded), exported to ONNX by this
bench with the ``handcrafted`` audio features, a catalog of a few generated songs: a
query's cost depends on the networks' shapes and the video, not on what the weights
learned. Everything is written under ``var/bench-query``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import httpx
import numpy as np
import torch

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.costs import DEFAULT_METHOD, METHODS
from app.services.models import register_model
from app.settings import Settings
from bench.bench_shots import (
    TRANSITIONS,
    boundary_agreement,
    near,
    write_edited_video,
)
from cli.demo import LocalServer, upload_track, wait_for_jobs
from ml.data.dataset import ExtractorInfo
from ml.export.twobranch import export_model
from ml.features.registry import get_extractor
from ml.media.decode import load_video_frames
from ml.media.shots import ShotDetector
from ml.models.vmnet import TwoBranchNet, segvmnet_config

WORK = Path("var/bench-query")
#: The audio features of both bench models: cheap to ingest, the query does not use them.
AUDIO_EXTRACTOR = "handcrafted"
#: The cost of the re-asked query: any cost but the default.
OTHER_METHOD = next(m for m in METHODS if m != DEFAULT_METHOD)


def _extractor_info(name: str, modality: str) -> dict:
    extractor = get_extractor(name, modality)
    return asdict(ExtractorInfo(extractor.name, str(extractor.version), modality, extractor.dim))


def build_model(
    out: Path, video_extractor: str, seed: int = 0, audio_extractor: str = AUDIO_EXTRACTOR
) -> Path:
    """Export a small Seg-VM-Net with random weights reading ``video_extractor`` and
    ``audio_extractor``.

    Returns the model directory (its ``model.json``). Shot segmentation, as the
    default recipe's.
    """
    audio = _extractor_info(audio_extractor, "audio")
    video = _extractor_info(video_extractor, "video")
    torch.manual_seed(seed)
    config = segvmnet_config(
        audio["dim"], video["dim"], embedding_dim=64, music_hidden=(128,), video_hidden=(128,)
    )
    export_model(
        TwoBranchNet(config),
        out,
        name=f"bench-query-{video_extractor}",
        provenance={"segmentation": "transnet", "audio_extractor": audio, "video_extractor": video},
    )
    return out


def catalog_tracks(work: Path, n: int) -> list[Path]:
    """``n`` generated songs of 10-14 s (their clips' soundtracks)."""
    from ml.synth import generate_corpus

    folder = work / "catalog"
    generate_corpus(folder, n, 7, min_duration_s=10.0, max_duration_s=14.0)
    return sorted((folder / "tracks").glob("*.flac"))[:n]


def start_service(stack: ExitStack, model_dir: Path, data_dir: Path, tracks: list[Path]):
    """The API on loopback with ``model_dir`` active and ``tracks`` ingested."""
    settings = Settings(data_dir=data_dir, inprocess_workers=1)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, model_dir, settings.model_dir, activate=True)
    client = stack.enter_context(LocalServer(settings))
    jobs = [upload_track(client, t, {"title": t.stem})["job_id"] for t in tracks]
    failed = [j for j in wait_for_jobs(client, jobs) if j["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"ingestion failed: {failed[0]}")
    return client


def recommend(client: httpx.Client, video: Path, method: str) -> tuple[float, dict]:
    """Round-trip seconds and the answer of ``POST /recommend/video``."""
    body = video.read_bytes()
    began = time.perf_counter()
    response = client.post(
        "/recommend/video",
        params={"k": 5, "method": method},
        files={"file": ("query.mp4", body, "video/mp4")},
    )
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed, response.json()


def timed(fn):
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[30.0, 60.0, 180.0])
    parser.add_argument("--tracks", type=int, default=3, help="catalog songs")
    args = parser.parse_args()

    run = WORK / f"run-{int(time.time())}"
    models = {
        name: build_model(run / f"model-{name}", name) for name in ("transnet", "handcrafted")
    }
    tracks = catalog_tracks(WORK, args.tracks)
    full = ShotDetector(device="cpu", mode="full")
    cascade = ShotDetector(device="cpu", mode="cascade")
    print(
        f"{torch.get_num_threads()} threads, shot network on {full.backend.name}, "
        f"catalog of {len(tracks)} songs, "
        f"default cost {DEFAULT_METHOD}, asked again with {OTHER_METHOD}"
    )
    rows, again = [], []
    with ExitStack() as stack:
        transnet = start_service(stack, models["transnet"], run / "data-transnet", tracks)
        cascaded = start_service(stack, models["handcrafted"], run / "data-handcrafted", tracks)
        warm = write_edited_video(run / "warm.mp4", 4.0, seed=1)
        for client in (transnet, cascaded):  # first loads the networks, compiles
            recommend(client, warm.path, DEFAULT_METHOD)
        for seconds in args.durations:
            video = write_edited_video(
                run / f"edited-{seconds:g}s.mp4",
                seconds,
                seed=int(seconds),
                min_shot_s=2.0,
                max_shot_s=8.0,
            )
            frames = load_video_frames(video.path, None, 48, 27)
            t_full, reference = timed(lambda f=frames: full.detect(f, return_features=True))
            t_cascade, ours = timed(lambda f=frames: cascade.detect(f))
            t_transnet, answer = recommend(transnet, video.path, DEFAULT_METHOD)
            t_cascaded, _ = recommend(cascaded, video.path, DEFAULT_METHOD)
            t_again, again_answer = recommend(transnet, video.path, OTHER_METHOD)
            if answer["query"]["reused"] or not again_answer["query"]["reused"]:
                raise RuntimeError("the second ask was not answered from the kept analysis")
            recall, f1 = boundary_agreement(ours.boundaries, reference.boundaries)
            cuts = video.frames_of("cut")
            identical = np.array_equal(
                near(ours.boundaries, cuts), near(reference.boundaries, cuts)
            )
            rows.append(
                (
                    seconds,
                    video,
                    t_full,
                    t_cascade,
                    ours,
                    recall,
                    f1,
                    identical,
                    t_transnet,
                    answer,
                    t_cascaded,
                )
            )
            again.append((seconds, t_again, again_answer["timings_s"]["total"]))
    _print_tables(rows, again)


def _print_tables(rows: list[tuple], again: list[tuple]) -> None:
    print(
        "\n| video | transitions (cut/dissolve/fade/wipe) | baseline: full pass + features | "
        "transnet path, end to end | / duration | / baseline | "
        "cascade path (handcrafted features, the default), end to end | / duration | "
        "/ baseline |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for seconds, video, t_full, _, _, _, _, _, t_transnet, _, t_cascaded in rows:
        counts = "/".join(str(video.kinds.count(k)) for k in TRANSITIONS)
        print(
            f"| {seconds:g} s | {counts} | {t_full:.1f} s ({t_full / seconds:.2f}x) | "
            f"{t_transnet:.1f} s | {t_transnet / seconds:.2f}x | {t_transnet / t_full:.2f} | "
            f"{t_cascaded:.1f} s | {t_cascaded / seconds:.2f}x | {t_cascaded / t_full:.2f} |"
        )
    print(
        "\n| video | cascade (shots only) | / full pass + features | frames the network saw | "
        "recall | F1 (2 frames) | hard cuts identical |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for seconds, video, t_full, t_cascade, ours, recall, f1, identical, *_ in rows:
        print(
            f"| {seconds:g} s | {t_cascade:.1f} s | {t_cascade / t_full:.2f} | "
            f"{100 * ours.evaluated_share:.0f}% | {recall:.3f} | {f1:.3f} | "
            f"{'yes' if identical else 'NO'} ({len(video.frames_of('cut'))} cuts) |"
        )
    print("\nTransnet path, stages of the first ask (server clock, s):")
    for seconds, *_, answer, _ in rows:
        stages = ", ".join(f"{k} {v:.3f}" for k, v in answer["timings_s"].items())
        print(f"  {seconds:g} s: {stages}")
    print(
        f"\nAsked again with {OTHER_METHOD} (analysis reused): "
        + "; ".join(
            f"{s:g} s video: server {1000 * server:.1f} ms, round trip {1000 * t:.0f} ms "
            f"({t / base:.4f} of the first ask)"
            for (s, t, server), base in zip(again, [r[8] for r in rows])
        )
    )
    median = statistics.median(server for _, _, server in again)
    print(f"median server time asked again: {1000 * median:.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
