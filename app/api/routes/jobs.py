"""``GET /jobs/{id}``: status, stage, progress, error and result of a background job."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.api.deps import get_db
from app.api.errors import not_found
from app.api.params import JobIdPath
from app.api.schemas import DOCUMENTED_AUTH, PROTECTED, JobOut, error_responses
from app.api.security import require_scope
from app.db.models import Job

router = APIRouter(
    tags=["jobs"],
    dependencies=[Depends(require_scope("catalog:write", "recommend")), *DOCUMENTED_AUTH],
)


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status.value,
        stage=job.stage,
        progress=job.progress,
        error=job.error,
        result=job.result,
        track_id=job.track_id,
    )


@router.get(
    "/jobs/{job_id}", response_model=JobOut, responses=error_responses(*PROTECTED, 404, 422)
)
def get_job(job_id: JobIdPath, db: Session = Depends(get_db)) -> JobOut:
    job = db.get(Job, job_id)
    if job is None:
        raise not_found("job", job_id)
    return job_out(job)
