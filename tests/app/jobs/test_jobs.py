"""Jobs run the same code in-process and through a real Celery worker on real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.db.models import Job
from app.db.session import session_scope
from app.jobs.queue import CeleryQueue, InProcessQueue
from app.jobs.records import new_job
from app.jobs.runner import run_job
from app.media_store import MediaStore
from app.migrate import upgrade
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def tone(path: Path, seconds: float = 3.0) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-ac",
            "1",
            str(path),
        ],
        check=True,
    )
    return path


def queue_probe_job(settings: Settings, media: Path) -> str:
    upgrade(settings.sqlalchemy_url)
    stored = MediaStore(settings.media_dir).put_path(media)
    with session_scope(settings.sqlalchemy_url) as db:
        return new_job(db, "probe", {"media_key": stored.key}).id


def wait_for_job(url: str, job_id: str, timeout_s: float = 90.0) -> Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session_scope(url) as db:
            job = db.get(Job, job_id)
            if job.status.value in ("succeeded", "failed"):
                return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} still {job.status.value} after {timeout_s} s")


def test_in_process_queue_runs_a_probe(tmp_path, database_url) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    job_id = queue_probe_job(settings, tone(tmp_path / "tone.wav"))
    queue = InProcessQueue(settings)
    queue.submit(job_id)
    queue.close()
    job = wait_for_job(settings.sqlalchemy_url, job_id)
    assert job.status.value == "succeeded" and job.progress == 1.0
    assert job.result["has_audio"] and abs(job.result["duration_s"] - 3.0) < 0.1


def test_a_failing_job_records_a_clear_error_and_is_not_rerun(tmp_path, sqlite_url) -> None:
    settings = Settings(data_dir=tmp_path, database_url=sqlite_url)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    job_id = queue_probe_job(settings, text)
    assert run_job(job_id, settings) == "failed"
    with session_scope(sqlite_url) as db:
        job = db.get(Job, job_id)
        assert job.error and "internal error" not in job.error
        assert job.attempts == 1
    assert run_job(job_id, settings) == "failed"  # a redelivered message changes nothing
    with session_scope(sqlite_url) as db:
        assert db.get(Job, job_id).attempts == 1


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_celery_worker_round_trip_through_redis(tmp_path, postgres_url, redis_server) -> None:
    broker = f"{redis_server}/0"
    settings = Settings(data_dir=tmp_path, database_url=postgres_url, broker_url=broker)
    job_id = queue_probe_job(settings, tone(tmp_path / "tone.wav"))
    env = {
        **os.environ,
        "V2M_DATA_DIR": str(tmp_path),
        "V2M_DATABASE_URL": postgres_url,
        "V2M_BROKER_URL": broker,
    }
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
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        queue = CeleryQueue(settings)
        assert queue.ping()
        queue.submit(job_id)
        job = wait_for_job(postgres_url, job_id)
        assert job.status.value == "succeeded", job.error
        assert abs(job.result["duration_s"] - 3.0) < 0.1
        queue.close()
    finally:
        worker.terminate()
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr.decode()[-2000:]


def test_every_job_kind_has_one_handler_and_recording_a_job_loads_none(tmp_path, sqlite_url):
    """Recording a job checks its kind against a fixed list (no handler import); the
    runner loads the handlers, and each kind of that list has one."""
    from app.jobs.kinds import JOB_KINDS
    from app.jobs.registry import handler, handler_for, registered_kinds
    from app.jobs.runner import load_handlers

    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        with pytest.raises(ValueError, match="unknown job kind"):
            new_job(db, "no-such-kind", {})
    with pytest.raises(ValueError, match="unknown job kind"):
        handler("no-such-kind")
    load_handlers()
    assert registered_kinds() == frozenset(JOB_KINDS)
    assert all(callable(handler_for(kind)) for kind in JOB_KINDS)
    with pytest.raises(LookupError):
        handler_for("no-such-kind")
