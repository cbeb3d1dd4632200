"""The Celery application: Redis as broker and result backend.

``acks_late`` + ``reject_on_worker_lost`` give at-least-once delivery: a worker
killed mid-task leaves the message unacknowledged and another worker runs it.
"""

from __future__ import annotations

from celery import Celery

from app.settings import get_settings

RUN_JOB = "v2m.run_job"


def make_celery(broker_url: str, visibility_timeout_s: int = 3600) -> Celery:
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

    @app.task(name=RUN_JOB, bind=True, max_retries=3)
    def run_job_task(self, job_id: str) -> str:
        from worker.jobs import run_job

        return run_job(job_id)

    return app


# The module-level app that `celery -A worker.celery_app worker` (v2m worker) loads.
_settings = get_settings()
app = make_celery(_settings.broker_url or "redis://localhost:6379/0",
                  _settings.broker_visibility_timeout_s)
