"""Where jobs go: a Celery broker when configured, a thread pool otherwise."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from app.jobs.runner import load_handlers, run_job
from app.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

#: The name of the one Celery task (``worker/celery_app.py`` defines it): run a job by id.
RUN_JOB = "v2m.run_job"


def celery_application(broker_url: str, visibility_timeout_s: int = 3600) -> Celery:
    """A Celery application on Redis (broker and result backend), configured alike for
    the side that sends jobs (:class:`CeleryQueue`) and the worker that runs them.

    ``acks_late`` + ``reject_on_worker_lost`` give at-least-once delivery: a worker
    killed mid-task leaves the message unacknowledged and another worker runs it.
    """
    from celery import Celery

    app = Celery("v2m", broker=broker_url, backend=broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        # Redelivery after a lost worker: longer than any job takes.
        broker_transport_options={"visibility_timeout": visibility_timeout_s},
    )
    return app


class JobQueue(Protocol):
    def submit(self, job_id: str) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


class InProcessQueue:
    """Runs jobs on threads of this process: the embedded default."""

    def __init__(self, settings: Settings):
        load_handlers()
        self.settings = settings
        self.pool = ThreadPoolExecutor(settings.inprocess_workers, thread_name_prefix="v2m-job")

    def submit(self, job_id: str) -> None:
        self.pool.submit(run_job, job_id, self.settings)

    def resume_unfinished(self, sessions) -> int:
        """Requeue jobs a previous process left queued or running (they died with it)."""
        from sqlalchemy import select

        from app.db.models import Job, JobStatus

        with sessions() as db:
            ids = list(
                db.scalars(
                    select(Job.id)
                    .where(Job.status.in_([JobStatus.queued, JobStatus.running]))
                    .order_by(Job.created_at)
                )
            )
        for job_id in ids:
            self.submit(job_id)
        return len(ids)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


class CeleryQueue:
    """Sends each job's id to the broker; a ``v2m worker`` runs it."""

    def __init__(self, settings: Settings):
        self.celery = celery_application(settings.broker_url, settings.broker_visibility_timeout_s)

    def submit(self, job_id: str) -> None:
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
