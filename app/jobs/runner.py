"""Running a job: status bookkeeping around the handler registered for the job's kind.

This is the one module of ``app/`` that imports ``worker/``: :func:`load_handlers`
imports ``worker.handlers``, whose modules register one handler per job kind.
"""

from __future__ import annotations

import functools
import logging
import traceback

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobStatus
from app.db.session import session_factory
from app.jobs.kinds import JOB_KINDS
from app.jobs.registry import JobContext, JobFailed, handler_for, internal_error, registered_kinds
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


@functools.cache
def load_handlers() -> None:
    """Import the job handlers (they register themselves) and check that every kind of
    :data:`~app.jobs.kinds.JOB_KINDS` has one. Called when a worker or the in-process
    queue starts, and before a job runs."""
    import worker.handlers  # noqa: F401  (importing the package registers every handler)

    missing = set(JOB_KINDS) - registered_kinds()
    if missing:
        raise RuntimeError(f"no handler for job kinds {sorted(missing)}")


def run_job(job_id: str, settings: Settings | None = None) -> str:
    """Run one job to completion; returns its final status."""
    load_handlers()
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
        result = handler_for(kind)(context)
    except JobFailed as exc:
        return _finish(sessions, job_id, JobStatus.failed, error=str(exc))
    except Exception as exc:  # noqa: BLE001  (a job must never die silently)
        log.error("job %s (%s) crashed:\n%s", job_id, kind, traceback.format_exc())
        return _finish(sessions, job_id, JobStatus.failed, error=internal_error(exc))
    return _finish(sessions, job_id, JobStatus.succeeded, result=result)


def _finish(
    sessions: sessionmaker[Session],
    job_id: str,
    status: JobStatus,
    result: dict | None = None,
    error: str | None = None,
) -> str:
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.status, job.result, job.error = status, result, error
            job.stage = "done" if status is JobStatus.succeeded else "failed"
            job.progress = 1.0 if status is JobStatus.succeeded else job.progress
    return status.value
