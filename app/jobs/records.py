"""Recording a job: a ``jobs`` row, queued, that the runner picks up by its id."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import Job, JobStatus
from app.jobs.kinds import JOB_KINDS


def new_job(
    session: Session, kind: str, params: dict[str, Any], track_id: int | None = None
) -> Job:
    """Add a queued job of ``kind`` (one of :data:`~app.jobs.kinds.JOB_KINDS`) to ``session``;
    the caller commits, then submits its id to the queue."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r} (known: {', '.join(JOB_KINDS)})")
    job = Job(
        id=str(uuid.uuid4()),
        kind=kind,
        params=params,
        track_id=track_id,
        status=JobStatus.queued,
        stage="queued",
        progress=0.0,
    )
    session.add(job)
    return job
