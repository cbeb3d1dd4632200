"""Fixtures for end-to-end service tests: a tiny trained model and a running API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from filelock import FileLock

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings
from cli.demo import DemoConfig, LocalServer, build_demo_model, upload_track, wait_for_jobs

ROOT = Path(__file__).resolve().parents[2]
# A tiny corpus: its validation split is too small to stop on, so train to the end.
# Handcrafted audio and video features (the defaults, named so that the tiny model stays
# small if they change): trained on 11 clips of 10-16 s it must still put a clip's own
# soundtrack in the top 3. Its epoch is chosen on the validation loss:
# the validation rank of 16 clips' two validation clips is too coarse to choose by.
TINY = DemoConfig(
    n_clips=16,
    seed=11,
    min_clip_s=10.0,
    max_clip_s=16.0,
    epochs=40,
    patience=40,
    monitor="val_loss",
    audio_extractor="handcrafted",
    video_extractor="handcrafted",
)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """A corpus of short synthetic clips and a Seg-VM-Net trained on them, built once per
    run: under pytest-xdist the first worker to need it builds it in the run's shared
    temporary directory and the others wait on a file lock, then reuse it."""
    root = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        root = root.parent
    work = root / "tiny-demo"
    with FileLock(root / "tiny-demo.lock"):
        build_demo_model(work, TINY, progress=False)
    return work


class Services:
    """Starts API processes (uvicorn on loopback) on one data directory."""

    def __init__(self, model_dir: Path, data_dir: Path):
        self.model_dir, self.data_dir = model_dir, data_dir
        self.servers: list[LocalServer] = []

    def __call__(
        self, database_url: str = "", broker_url: str = "", index_url: str = ""
    ) -> httpx.Client:
        """A fresh service: migrated database, the tiny model registered and active."""
        settings = self.settings(database_url, broker_url, index_url)
        upgrade(settings.sqlalchemy_url)
        with session_scope(settings.sqlalchemy_url) as db:
            register_model(db, self.model_dir, settings.model_dir, activate=True)
        return self.start(settings)

    def settings(
        self, database_url: str = "", broker_url: str = "", index_url: str = ""
    ) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=database_url,
            broker_url=broker_url,
            index_url=index_url,
        )

    def start(self, settings: Settings) -> httpx.Client:
        server = LocalServer(settings)
        self.servers.append(server)
        return server.__enter__()

    def stop_all(self) -> None:
        while self.servers:
            self.servers.pop().__exit__(None, None, None)


@pytest.fixture
def make_service(tiny_demo, tmp_path) -> Iterator[Services]:
    services = Services(tiny_demo / "model", tmp_path / "var")
    yield services
    services.stop_all()


@pytest.fixture
def celery_worker(tmp_path) -> Iterator[Callable[[str, str], subprocess.Popen]]:
    """Start real Celery worker processes; all are stopped at the end of the test."""
    workers: list[subprocess.Popen] = []

    def start(database_url: str, broker_url: str, name: str = "w1") -> subprocess.Popen:
        env = {
            **os.environ,
            "V2M_DATA_DIR": str(tmp_path / "var"),
            "V2M_DATABASE_URL": database_url,
            "V2M_BROKER_URL": broker_url,
        }
        log = open(tmp_path / f"worker-{name}.log", "wb")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker.celery_app",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{name}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()


class Driver:
    """What a client does with the service, over HTTP, on the tiny demo corpus."""

    def __init__(self, work: Path):
        self.work = work

    def clip_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.work / "corpus" / "truth").glob("*.json"))

    def track_file(self, clip: str) -> Path:
        return self.work / "corpus" / "tracks" / f"{clip}.flac"

    def video_file(self, clip: str) -> Path:
        return self.work / "corpus" / "videos" / f"{clip}.mp4"

    def upload(self, client: httpx.Client, clip: str, index: int = 0) -> dict:
        return upload_track(
            client,
            self.track_file(clip),
            {
                "title": clip,
                "artist": f"artist-{index % 3}",
                "license": "CC0",
                "tags": ["synthetic", f"group-{index % 2}"],
            },
        )

    def ingest(self, client: httpx.Client, ids: list[str]) -> dict[str, int]:
        """Upload the clips' soundtracks, wait for their jobs; clip id -> track id."""
        answers = {c: self.upload(client, c, i) for i, c in enumerate(ids)}
        jobs = wait_for_jobs(client, [a["job_id"] for a in answers.values()], timeout_s=900)
        failed = [j for j in jobs if j["status"] != "succeeded"]
        assert not failed, failed
        return {c: a["track_id"] for c, a in answers.items()}

    def music_cuts(self, clip: str) -> str:
        """The clip's own music-segment boundaries, as a user's cut points."""
        from ml.data.dataset import load_dataset

        dataset = load_dataset(self.work / "dataset")
        entry = next(c for c in dataset.manifest.clips if c.clip_id == clip)
        bounds = np.load(self.work / "dataset" / entry.file)["boundaries_s"]
        return ",".join(f"{t:.3f}" for t in bounds[1:-1])

    def recommend(self, client: httpx.Client, clip: str, **params) -> dict:
        with open(self.video_file(clip), "rb") as handle:
            response = client.post(
                "/recommend/video",
                params=params,
                files={"file": (f"{clip}.mp4", handle, "video/mp4")},
            )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def driver(tiny_demo) -> Driver:
    return Driver(tiny_demo)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


@pytest.fixture
def eventually() -> Callable[..., None]:
    return wait_until
