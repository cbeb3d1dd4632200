"""``POST /edit/plan`` and ``POST /preview``: a catalog track edited to an uploaded video."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError
from app.api.params import MAX_ID
from app.api.routes.recommend import analysing
from app.api.schemas import (
    DOCUMENTED_AUTH,
    PROTECTED,
    UPLOAD,
    EditPlanOut,
    error_responses,
)
from app.api.security import require_scope
from app.api.uploads import Upload, multipart_body, query_store, upload_dependency
from app.runtime import Runtime
from app.services import preview
from app.services.options import parse_seconds
from app.services.recommend import QueryError

router = APIRouter(
    tags=["preview"], dependencies=[Depends(require_scope("recommend")), *DOCUMENTED_AUTH]
)


class EditRequest:
    """The query parameters of an edit: which track, the video's cuts, where to start."""

    def __init__(
        self,
        track_id: Annotated[int, Query(ge=1, le=MAX_ID, description="the catalog track")],
        boundaries: Annotated[
            str | None, Query(description="the video's cuts in seconds (default: its shots)")
        ] = None,
        start_s: Annotated[
            float | None,
            Query(ge=0, description="where in the track the video should start (seconds)"),
        ] = None,
    ) -> None:
        try:
            self.boundaries_s = parse_seconds(boundaries, "boundaries")
        except QueryError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        self.track_id, self.start_s = track_id, start_s


edit_video = upload_dependency(lambda runtime: query_store(runtime.settings), after=EditRequest)


def _planned(request: EditRequest, upload: Upload, runtime: Runtime, db: Session):
    path = upload.file.finish()
    try:
        preview.track_structure(db, request.track_id)  # 404 before any analysis
    except preview.PreviewError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    with analysing(runtime, db):
        planned = preview.plan_for_video(
            db,
            runtime.settings,
            request.track_id,
            path,
            boundaries_s=request.boundaries_s,
            start_s=request.start_s,
        )
    return planned, path


@router.post(
    "/edit/plan",
    response_model=EditPlanOut,
    responses=error_responses(*PROTECTED, *UPLOAD, 404),
    openapi_extra=multipart_body("the video to edit the track to"),
)
def edit_plan(
    request: EditRequest = Depends(),
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
    upload: Upload = Depends(edit_video),
) -> dict:
    """The edit plan of a catalog track under the uploaded video: the track's own spans of
    whole bars, joined on downbeats, section changes and downbeats on the video's cuts
    where possible, and which cuts are hit and by how much each is missed."""
    planned, _ = _planned(request, upload, runtime, db)
    return planned.as_dict()


@router.post(
    "/preview",
    response_class=FileResponse,
    responses={
        200: {
            "description": "the video with the edited music (MP4)",
            "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(*PROTECTED, *UPLOAD, 404),
    },
    openapi_extra=multipart_body("the video to lay the edited track under"),
)
def render_preview(
    request: EditRequest = Depends(),
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
    upload: Upload = Depends(edit_video),
) -> FileResponse:
    """The uploaded video with the catalog track edited to it (the plan of
    ``POST /edit/plan``), its audio loudness-normalised, the video stream copied when MP4
    holds its codec."""
    planned, path = _planned(request, upload, runtime, db)
    folder = Path(tempfile.mkdtemp(prefix="preview-"))
    try:
        with analysing(runtime, db):
            out = preview.render(planned, path, folder / "preview.mp4")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        out,
        media_type="video/mp4",
        filename=f"preview-{request.track_id}.mp4",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
