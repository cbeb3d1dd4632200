"""The service end to end, through HTTP on loopback (embedded default: SQLite, in-process jobs).

    python -m bench.bench_service [--tracks 4] [--clients 20] [--requests 20]
                                  [--concurrent-video-s 20]

Measures:
* ingestion throughput, in tracks per minute for one in-process worker thread, on
  real recordings from the Debian package wesnoth-music (synthetic soundtracks if
  it is absent), and the ratio of processing time to audio duration;
* ``POST /recommend/video`` on a 60 s synthetic music video: latency per stage and
  in total, as a ratio of the video's duration;
* p50 / p99 latency with ``--clients`` concurrent clients on loopback, against the
  single-client latency measured in the same run (the baseline), on a shorter video
  (``--concurrent-video-s``): on CPU, shot detection of a 60 s video costs about a
  minute of CPU, so 20 clients x 60 s would measure the queue, not the service.

The model is the demo's small Seg-VM-Net (trained once and cached under
``var/bench-service``): its quality does not matter here, its cost does.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings
from cli.demo import (
    DemoConfig,
    LocalServer,
    build_demo_model,
    real_recordings,
    upload_track,
    wait_for_jobs,
)

WORK = Path("var/bench-service")


def query_video(work: Path, seconds: float) -> Path:
    from ml.synth import generate_corpus

    folder = work / f"query-{seconds:g}s"
    manifest = generate_corpus(folder, 1, 99, min_duration_s=seconds, max_duration_s=seconds + 1)
    video = Path(manifest.clips[0].video)
    return video if video.is_absolute() else folder / video


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=4)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--concurrent-video-s", type=float, default=20.0)
    args = parser.parse_args()

    model_dir = build_demo_model(
        WORK / "model-work", DemoConfig(n_clips=40, epochs=30), progress=False
    )
    data = WORK / f"run-{int(time.time())}"
    settings = Settings(data_dir=data, inprocess_workers=1)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, model_dir, settings.model_dir, activate=True)
    tracks = (
        real_recordings(args.tracks)
        or sorted((WORK / "model-work" / "corpus" / "tracks").glob("*.flac"))[: args.tracks]
    )
    video = query_video(WORK, 60.0)
    short_video = query_video(WORK, args.concurrent_video_s)
    from ml.media.decode import probe

    audio_s = sum(probe(t).duration_s for t in tracks)
    video_s = probe(video).duration_s
    with LocalServer(settings) as client:
        started = time.perf_counter()
        jobs = [upload_track(client, t, {"title": t.stem})["job_id"] for t in tracks]
        done = wait_for_jobs(client, jobs)
        ingest_s = time.perf_counter() - started
        ok = sum(j["status"] == "succeeded" for j in done)
        print(
            f"ingestion: {ok}/{len(tracks)} tracks, {audio_s:.0f} s of audio in {ingest_s:.1f} s"
            f" = {60 * ok / ingest_s:.2f} tracks/min per worker,"
            f" {ingest_s / audio_s:.3f} s per s of audio"
        )

        def recommend(video: Path) -> tuple[float, dict]:
            began = time.perf_counter()
            response = client.post(
                "/recommend/video",
                params={"k": 10},
                files={"file": ("query.mp4", video.read_bytes(), "video/mp4")},
            )
            response.raise_for_status()
            return time.perf_counter() - began, response.json()

        recommend(video)  # warm: first loads, compiles
        single = [recommend(video) for _ in range(3)]
        base = statistics.median(t for t, _ in single)
        stages = single[-1][1]["timings_s"]
        print(
            f"\nPOST /recommend/video, {video_s:.0f} s video, one client: "
            f"{base:.2f} s = {base / video_s:.3f} x the video's duration"
        )
        for stage, seconds in stages.items():
            print(f"  {stage:<14} {seconds:8.3f} s  {seconds / video_s:.4f} x duration")

        short_s = probe(short_video).duration_s
        short_base = statistics.median(recommend(short_video)[0] for _ in range(3))
        with ThreadPoolExecutor(args.clients) as pool:
            latencies = [
                t for t, _ in pool.map(lambda _: recommend(short_video), range(args.requests))
            ]
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print(
            f"\n{short_s:.0f} s video, one client (baseline) {short_base:.2f} s; "
            f"{args.clients} concurrent clients, {args.requests} requests: p50 {p50:.2f} s"
            f" ({p50 / short_base:.1f}x baseline), p99 {p99:.2f} s ({p99 / short_base:.1f}x baseline)"
        )


if __name__ == "__main__":
    main()
