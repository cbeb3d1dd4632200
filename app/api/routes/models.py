"""The model registry (admin scope): list models, activate one without downtime."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.errors import not_found
from app.api.params import IdPath
from app.api.schemas import (
    DOCUMENTED_AUTH,
    PROTECTED,
    JobAccepted,
    ModelList,
    ModelOut,
    error_responses,
)
from app.api.security import require_scope
from app.db.models import Model
from app.jobs.kinds import REEMBED
from app.jobs.records import new_job
from app.runtime import Runtime
from app.services.models import model_evaluation

router = APIRouter(
    tags=["models"], dependencies=[Depends(require_scope("admin")), *DOCUMENTED_AUTH]
)


@router.get("/models", response_model=ModelList, responses=error_responses(*PROTECTED))
def list_models(db: Session = Depends(get_db)) -> dict[str, list[ModelOut]]:
    rows = db.scalars(select(Model).order_by(Model.id))
    return {
        "models": [
            ModelOut.model_validate(row, from_attributes=True).model_copy(
                update={"evaluation": model_evaluation(row.manifest or {})}
            )
            for row in rows
        ]
    }


@router.post(
    "/models/{model_id}/activate",
    status_code=202,
    response_model=JobAccepted,
    response_description="the re-embedding job, queued",
    responses=error_responses(*PROTECTED, 404, 422),
)
def activate(
    model_id: IdPath, runtime: Runtime = Depends(get_runtime), db: Session = Depends(get_db)
) -> JSONResponse:
    """Re-embed the catalog with the model in the background, then make it active.

    Activation is per role: a Seg-VM-Net or VM-Net replaces the video-to-music
    model, a MuSimNet the similarity model (the video-to-music model stays active).
    The current model of that role serves until every ready track has an embedding
    under the new one: no downtime, no half-embedded catalog.
    """
    model = db.get(Model, model_id)
    if model is None:
        raise not_found("model", model_id)
    job = new_job(db, REEMBED, {"model_id": model_id, "activate": True})
    db.commit()
    runtime.queue.submit(job.id)
    return JSONResponse(
        {"job_id": job.id, "job_url": f"/jobs/{job.id}", "status": "queued"}, status_code=202
    )
