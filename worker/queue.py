"""Where jobs go: a Celery broker when configured, a thread pool otherwise."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from app.settings import Settings


class JobQueue(Protocol):
    def submit(self, job_id: str) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


class InProcessQueue:
    """Runs jobs on threads of this process: the embedded default."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool = ThreadPoolExecutor(settings.inprocess_workers, thread_name_prefix="v2m-job")

    def submit(self, job_id: str) -> None:
        from worker.jobs import run_job

        self.pool.submit(run_job, job_id, self.settings)

    def resume_unfinished(self, sessions) -> int:
        """Requeue jobs a previous process left queued or running (they died with it)."""
        from sqlalchemy import select

        from app.db.models import Job, JobStatus

        with sessions() as db:
            ids = list(db.scalars(select(Job.id).where(
                Job.status.in_([JobStatus.queued, JobStatus.running])).order_by(Job.created_at)))
        for job_id in ids:
            self.submit(job_id)
        return len(ids)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


class CeleryQueue:
    def __init__(self, settings: Settings):
        from worker.celery_app import make_celery

        self.celery = make_celery(settings.broker_url, settings.broker_visibility_timeout_s)

    def submit(self, job_id: str) -> None:
        from worker.celery_app import RUN_JOB

        self.celery.send_task(RUN_JOB, args=[job_id])

    def ping(self) -> bool:
        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:  # noqa: BLE001  (any broker failure means "not reachable")
            return False

    def close(self) -> None:
        self.celery.close()


def make_queue(settings: Settings) -> JobQueue:
    return CeleryQueue(settings) if settings.broker_url else InProcessQueue(settings)
