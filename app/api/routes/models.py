"""The model registry (admin scope): list the registered models."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_db
from app.api.security import require_scope
from app.db.models import Model

router = APIRouter(tags=["models"], dependencies=[Depends(require_scope("admin"))])


class ModelOut(BaseModel):
    id: int
    name: str
    kind: str
    segmentation: str
    audio_extractor: str
    video_extractor: str
    dim: int
    checksum: str
    active: bool
    created_at: datetime


@router.get("/models")
def list_models(db: Session = Depends(get_db)) -> dict[str, list[ModelOut]]:
    rows = db.scalars(select(Model).order_by(Model.id))
    return {"models": [ModelOut.model_validate(row, from_attributes=True) for row in rows]}
