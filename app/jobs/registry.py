"""What a job handler is given and how it registers for its kind.

``worker/handlers/`` fills the registry (``@handler(kind)``) when imported; the runner
looks a job's handler up here. Delivery is at least once (Celery ``acks_late``): a
handler may run again after a worker died mid-way, so handlers are idempotent and write
their results in one transaction at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job
from app.jobs.kinds import JOB_KINDS
from app.settings import Settings


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
_HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``kind``."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}: add it to app.jobs.kinds first")

    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def handler_for(kind: str) -> Handler:
    """The handler registered for ``kind`` (LookupError when none is)."""
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise LookupError(f"no handler registered for job kind {kind!r}") from None


def registered_kinds() -> frozenset[str]:
    return frozenset(_HANDLERS)


def internal_error(exc: BaseException) -> str:
    """How an unexpected exception is reported on its job (and on its track)."""
    return f"internal error: {type(exc).__name__}: {exc}"
