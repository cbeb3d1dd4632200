"""Load: fifty clients at once on one API process, every answer correct.

Each client (a thread with its own HTTP connection) runs the same bounded script:
catalog reads, job polls and a recommendation for a video with its own cut points
(``boundaries=``: no shot detection runs). All start together. No request may fail,
whether in the service or in a client; the latencies are printed, not asserted (a
test machine's speed says nothing about the service).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import httpx
import numpy as np
import pytest

from cli.demo import wait_for_jobs

CLIENTS = 50
N_TRACKS = 4
CUTS = "2.5,5,7.5"  # the user's cut points, in seconds
KEY = "load-test-key"


def client_script(
    base_url: str,
    video: bytes,
    tracks: list[int],
    jobs: list[str],
    index: int,
    start: threading.Barrier,
) -> list[tuple[str, float, str | None]]:
    """One client's requests; for each: its kind, latency and what was wrong (or None)."""
    track, job = tracks[index % len(tracks)], jobs[index % len(jobs)]
    steps = [
        (
            "list",
            lambda c: c.get("/catalog/tracks", params={"limit": 10}),
            lambda b: b["total"] == len(tracks) and len(b["tracks"]) == len(tracks),
        ),
        (
            "track",
            lambda c: c.get(f"/catalog/tracks/{track}"),
            lambda b: b["track_id"] == track and b["status"] == "ready",
        ),
        (
            "job",
            lambda c: c.get(f"/jobs/{job}"),
            lambda b: b["id"] == job and b["status"] == "succeeded",
        ),
        (
            "recommend",
            lambda c: c.post(
                "/recommend/video",
                params={"k": 3, "boundaries": CUTS},
                files={"file": ("query.mp4", video, "video/mp4")},
            ),
            lambda b: len(b["results"]) == 3 and b["query"]["segmentation"] == "user",
        ),
        (
            "search",
            lambda c: c.get("/catalog/tracks", params={"status": "ready", "offset": 1}),
            lambda b: len(b["tracks"]) == len(tracks) - 1,
        ),
        (
            "job",
            lambda c: c.get(f"/jobs/{jobs[(index + 1) % len(jobs)]}"),
            lambda b: b["status"] == "succeeded",
        ),
    ]
    outcomes = []
    with httpx.Client(base_url=base_url, timeout=300, headers={"X-API-Key": KEY}) as client:
        start.wait()
        for kind, send, valid in steps:
            began = time.perf_counter()
            try:
                response = send(client)
                elapsed = time.perf_counter() - began
                wrong = (
                    None
                    if response.status_code == 200 and valid(response.json())
                    else f"{response.status_code}: {response.text[:300]}"
                )
            except Exception as exc:  # noqa: BLE001  (a client failure is a failure too)
                elapsed, wrong = time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
            outcomes.append((kind, elapsed, wrong))
    return outcomes


@pytest.mark.slow
def test_fifty_concurrent_clients_get_no_error(make_service, driver, monkeypatch) -> None:
    monkeypatch.setenv("V2M_API_KEYS", f"{KEY}=catalog:write,recommend")
    service = make_service()
    service.headers["X-API-Key"] = KEY
    clips = driver.clip_ids()[:N_TRACKS]
    answers = [driver.upload(service, clip, i) for i, clip in enumerate(clips)]
    jobs = [a["job_id"] for a in answers]
    assert all(j["status"] == "succeeded" for j in wait_for_jobs(service, jobs, timeout_s=900))
    tracks = [a["track_id"] for a in answers]
    video = driver.video_file(clips[0]).read_bytes()

    start = threading.Barrier(CLIENTS)
    results: list[list] = [[] for _ in range(CLIENTS)]

    def run(i: int) -> None:
        results[i] = client_script(str(service.base_url), video, tracks, jobs, i, start)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(900)
    wall = time.perf_counter() - began
    assert not any(thread.is_alive() for thread in threads), "a client never finished"

    outcomes = [o for per_client in results for o in per_client]
    assert len(outcomes) == CLIENTS * 6, len(outcomes)
    errors = [(kind, wrong) for kind, _, wrong in outcomes if wrong]
    assert not errors, f"{len(errors)} of {len(outcomes)} requests failed: {errors[:5]}"

    latencies: dict[str, list[float]] = defaultdict(list)
    for kind, elapsed, _ in outcomes:
        latencies[kind].append(elapsed)
        latencies["all"].append(elapsed)
    print(f"\n{len(outcomes)} requests from {CLIENTS} clients in {wall:.1f} s")
    for kind, values in sorted(latencies.items()):
        p50, p99 = np.percentile(values, [50, 99])
        print(f"{kind:10} n={len(values):4}  p50 {p50 * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms")
