"""A catalog track edited to a video: ``POST /edit/plan`` and ``POST /preview`` for an
uploaded video, ``GET /recommend/preview.mp4`` for a result of a cached query (a job for
a long video, whose MP4 is at ``GET /jobs/{job_id}/preview.mp4``)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError
from app.api.params import MAX_ID, JobIdPath
from app.api.routes.recommend import RESULT_NOT_FOUND, ResultQuery, analysing, result_error
from app.api.schemas import (
    ANALYSIS,
    DOCUMENTED_AUTH,
    PROTECTED,
    UPLOAD,
    EditPlanOut,
    ErrorOut,
    JobAccepted,
    error_responses,
)
from app.api.security import require_scope
from app.api.serving import Serving, get_serving
from app.api.uploads import Upload, multipart_body, query_store, upload_dependency
from app.runtime import Runtime
from app.services import preview
from app.services.cached_results import ResultError
from app.services.options import parse_seconds
from app.services.recommend import QueryError

router = APIRouter(
    tags=["preview"], dependencies=[Depends(require_scope("recommend")), *DOCUMENTED_AUTH]
)


#: The OpenAPI description of an MP4 answer.
MP4 = {
    "description": "the video with the edited music (MP4)",
    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
}


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
        200: MP4,
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
    return _mp4(planned, path, runtime, db)


def _mp4(planned: preview.PlannedEdit, video: Path, runtime: Runtime, db: Session) -> FileResponse:
    """Render ``planned`` under ``video`` in an analysis slot; the MP4 is removed once sent."""
    folder = Path(tempfile.mkdtemp(prefix="preview-"))
    try:
        with analysing(runtime, db):
            out = preview.render(planned, video, folder / "preview.mp4")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        out,
        media_type="video/mp4",
        filename=f"preview-{planned.track_id}.mp4",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get(
    "/recommend/preview.mp4",
    response_class=FileResponse,
    responses={
        200: MP4,
        202: {
            "model": JobAccepted,
            "description": "a video longer than preview_async_seconds (60 s by default): "
            "rendered by a job, whose result's preview_url is the MP4 (GET /jobs/{id})",
        },
        **error_responses(*PROTECTED, 404, 409, 422, *ANALYSIS),
        404: RESULT_NOT_FOUND,
        409: {
            "model": ErrorOut,
            "description": "The track is not embedded by the active model "
            "(track_not_ready), or has too few downbeats to cut on (no_edit).",
        },
        410: {
            "model": ErrorOut,
            "description": "The query's video is no longer kept (query_video_gone: send "
            "the video again).",
        },
    },
)
def result_preview(
    asked: ResultQuery = Depends(),
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
    serving: Serving = Depends(get_serving),
):
    """The video of a query answered a short while ago by ``POST /recommend/video``, with
    one of its results edited under it (a result's ``preview_url``): the plan whose
    hit/miss list the answer gave, rendered under the video the service kept with the
    query (nothing uploaded or analysed again). A video longer than
    ``preview_async_seconds`` is rendered by a job: 202 with the job's URL."""
    try:
        found = preview.result_preview(
            db,
            runtime.settings,
            serving.model,
            runtime.queries,
            asked.query,
            asked.track_id,
            asked.options,
        )
    except ResultError as exc:
        raise result_error(exc) from None
    except preview.PreviewError as exc:
        raise ApiError(409, "no_edit", str(exc)) from None
    except preview.NotKeptError as exc:
        raise ApiError(410, "query_video_gone", str(exc)) from None
    if found.video_duration_s > runtime.settings.preview_async_seconds:
        job = preview.queue_result_preview(db, runtime.settings, found)
        db.commit()
        runtime.queue.submit(job.id)
        return JSONResponse(
            {"job_id": job.id, "job_url": f"/jobs/{job.id}", "status": "queued"},
            status_code=202,
        )
    return _mp4(found.planned, found.video, runtime, db)


@router.get(
    "/jobs/{job_id}/preview.mp4",
    response_class=FileResponse,
    responses={
        200: MP4,
        **error_responses(*PROTECTED, 404, 409, 422),
        409: {"model": ErrorOut, "description": "The job is not done (job_not_done)."},
        410: {
            "model": ErrorOut,
            "description": "The preview is no longer kept (preview_gone).",
        },
    },
)
def job_preview(
    job_id: JobIdPath,
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
) -> FileResponse:
    """The MP4 a preview job rendered (its result's ``preview_url``), kept an hour."""
    try:
        out = preview.job_preview(db, runtime.settings, job_id)
    except preview.PreviewError as exc:
        raise ApiError(409, "job_not_done", str(exc)) from None
    except preview.NotKeptError as exc:
        raise ApiError(410, "preview_gone", str(exc)) from None
    except LookupError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return FileResponse(out, media_type="video/mp4", filename=f"preview-{job_id}.mp4")
