"""The Celery worker's application: Redis as broker and result backend, one task that
runs a job by id (configured as :func:`app.jobs.queue.celery_application` says, the
same configuration the API sends with).

``acks_late`` + ``reject_on_worker_lost`` give at-least-once delivery: a worker
killed mid-task leaves the message unacknowledged and another worker runs it.
"""

from __future__ import annotations

from celery import Celery

import worker.handlers  # noqa: F401  (importing the package registers every handler)
from app.jobs.queue import RUN_JOB, celery_application
from app.settings import get_settings

__all__ = ["RUN_JOB", "app", "make_celery"]


def make_celery(broker_url: str, visibility_timeout_s: int = 3600) -> Celery:
    app = celery_application(broker_url, visibility_timeout_s)

    @app.task(name=RUN_JOB, bind=True, max_retries=3)
    def run_job_task(self, job_id: str) -> str:
        from app.jobs.runner import run_job

        return run_job(job_id)

    return app


# The module-level app that `celery -A worker.celery_app worker` (v2m worker) loads.
_settings = get_settings()
app = make_celery(
    _settings.broker_url or "redis://localhost:6379/0", _settings.broker_visibility_timeout_s
)
