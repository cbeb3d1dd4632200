"""Running a job: status bookkeeping around a handler chosen by the job's kind.

Delivery is at least once (Celery ``acks_late``): a handler may run again after
a worker died mid-way, so handlers are idempotent and write their results in one
transaction at the end.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobStatus
from app.db.session import session_factory
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """A handler's expected failure: the message is shown to the user as is."""


@dataclass
class JobContext:
    job_id: str
    params: dict[str, Any]
    settings: Settings
    sessions: sessionmaker[Session]

    def report(self, stage: str, progress: float) -> None:
        """Record the stage and progress (0..1) so ``GET /jobs/{id}`` shows it."""
        with self.sessions.begin() as session:
            job = session.get(Job, self.job_id)
            if job is not None:
                job.stage, job.progress = stage, min(max(progress, 0.0), 1.0)


Handler = Callable[[JobContext], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return register


def registered_handlers() -> dict[str, Handler]:
    import worker.handlers  # noqa: F401  (importing the package registers every handler)

    return HANDLERS


def new_job(session: Session, kind: str, params: dict[str, Any],
            track_id: int | None = None) -> Job:
    if kind not in registered_handlers():
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job(id=str(uuid.uuid4()), kind=kind, params=params, track_id=track_id,
              status=JobStatus.queued, stage="queued", progress=0.0)
    session.add(job)
    return job


def run_job(job_id: str, settings: Settings | None = None) -> str:
    """Run one job to completion; returns its final status."""
    settings = settings or get_settings()
    sessions = session_factory(settings.sqlalchemy_url)
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is None:
            log.warning("job %s does not exist (deleted?)", job_id)
            return "missing"
        if job.status in (JobStatus.succeeded, JobStatus.failed):
            return job.status.value  # a redelivered message: already done
        job.status, job.stage, job.attempts = JobStatus.running, "starting", job.attempts + 1
        kind, params = job.kind, dict(job.params or {})
    context = JobContext(job_id, params, settings, sessions)
    try:
        result = registered_handlers()[kind](context)
    except JobFailed as exc:
        return _finish(sessions, job_id, JobStatus.failed, error=str(exc))
    except Exception as exc:  # noqa: BLE001  (a job must never die silently)
        log.error("job %s (%s) crashed:\n%s", job_id, kind, traceback.format_exc())
        return _finish(sessions, job_id, JobStatus.failed, error=internal_error(exc))
    return _finish(sessions, job_id, JobStatus.succeeded, result=result)


def internal_error(exc: BaseException) -> str:
    """How an unexpected exception is reported on its job (and on its track)."""
    return f"internal error: {type(exc).__name__}: {exc}"


def _finish(sessions: sessionmaker[Session], job_id: str, status: JobStatus,
            result: dict | None = None, error: str | None = None) -> str:
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.status, job.result, job.error = status, result, error
            job.stage = "done" if status is JobStatus.succeeded else "failed"
            job.progress = 1.0 if status is JobStatus.succeeded else job.progress
    return status.value
