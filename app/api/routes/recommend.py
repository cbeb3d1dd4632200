"""``POST /recommend/video``, ``GET /recommend/explain.png`` and ``POST /similar/track``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError, not_found
from app.api.params import MAX_ID, IdQuery
from app.api.schemas import (
    ANALYSIS,
    DOCUMENTED_AUTH,
    PROTECTED,
    UPLOAD,
    ErrorOut,
    JobAccepted,
    RecommendationList,
    SimilarList,
    error_responses,
)
from app.api.security import require_scope
from app.api.serving import (
    Method,
    Serving,
    SimilarityServing,
    get_serving,
    query_options,
    query_video,
    reference_audio,
    similar_serving,
)
from app.api.uploads import Upload, multipart_body
from app.db.models import Track
from app.jobs.kinds import RECOMMEND
from app.jobs.records import new_job
from app.media_store import StagedFile
from app.runtime import Runtime
from app.services import explain, options, recommend
from app.services.cached_results import ResultError
from app.services.catalog import check_track_media
from app.services.costs import DEFAULT_METHOD
from ml.media.decode import probe

router = APIRouter(
    tags=["recommend"], dependencies=[Depends(require_scope("recommend")), *DOCUMENTED_AUTH]
)


@router.post(
    "/recommend/video",
    response_model=RecommendationList,
    responses={
        202: {
            "model": JobAccepted,
            "description": "a long video: the answer comes as the job's result (GET /jobs/{id})",
        },
        **error_responses(*PROTECTED, *UPLOAD, *ANALYSIS),
    },
    openapi_extra=multipart_body("the video to find music for"),
)
def recommend_video(
    options: recommend.QueryOptions = Depends(query_options),
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
    serving: Serving = Depends(get_serving),
    upload: Upload = Depends(query_video),
) -> JSONResponse:
    path = upload.file.finish()
    # A video analysed before is answered from its stored analysis: no probe, and no
    # wait for an analysis slot behind another upload.
    known = recommend.analysed_before(runtime.queries, upload.file.key, serving.model, options)
    duration_s = known.analysis.duration_s if known is not None else probe(path).duration_s
    if duration_s > runtime.settings.async_video_seconds:
        return _queue_long_video(upload.file, options, runtime, db)
    with analysing(runtime, db) if known is None else nullcontext():
        body = recommend.recommend_for_video(
            path,
            db,
            serving.model,
            serving.index,
            options,
            runtime.settings,
            cache=runtime.queries,
            content_sha256=upload.file.key,
        )
    return JSONResponse(body)


#: The 404 of a route on a result of a cached query (``ResultQuery``).
RESULT_NOT_FOUND = {
    "model": ErrorOut,
    "description": "Unknown track, or the query is no longer cached "
    "(query_not_cached: send the video again).",
}


class ResultQuery:
    """The query parameters naming one result of a cached query: the query's content
    SHA-256, the track, and the ranking cost and cut options it was asked with (a
    result's ``explain_url`` and ``preview_url`` carry them)."""

    def __init__(
        self,
        query: Annotated[
            str,
            Query(
                pattern=r"^[0-9a-f]{64}$",
                description="the query's content SHA-256 (query.content_sha256 of the answer)",
            ),
        ],
        track_id: Annotated[int, Query(ge=1, le=MAX_ID, description="a track of the answer")],
        method: Annotated[Method, Query(description="the ranking cost asked for")] = Method(
            DEFAULT_METHOD
        ),
        boundaries: Annotated[
            str | None, Query(description="the cut points the video was sent with, if any")
        ] = None,
        min_segment_s: Annotated[
            float | None, Query(ge=0, le=120, description="as the video was sent with, if any")
        ] = None,
    ) -> None:
        try:
            self.options = options.query_options(
                method=method.value, boundaries=boundaries, min_segment_s=min_segment_s
            )
        except recommend.QueryError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        self.query, self.track_id = query, track_id


def result_error(exc: ResultError) -> ApiError:
    """The HTTP error of a result of a cached query that cannot be found."""
    if exc.kind == "embedding":
        return ApiError(409, "track_not_ready", str(exc))
    return ApiError(404, "query_not_cached" if exc.kind == "query" else "not_found", str(exc))


@router.get(
    "/recommend/explain.png",
    response_class=Response,
    responses={
        200: {
            "description": "the picture (PNG): the segment-similarity matrix with the "
            "alignment's path, and the video's cuts against the edit's downbeats",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(*PROTECTED, 404, 422, *ANALYSIS),
        404: RESULT_NOT_FOUND,
    },
)
def explain_png(
    asked: ResultQuery = Depends(),
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
    serving: Serving = Depends(get_serving),
) -> Response:
    """Why a track ranked for a video sent to ``POST /recommend/video`` a short while
    ago: drawn from the stored analysis of the query (never analysed again; 404 once it
    is no longer kept) and the track's segments (a result's ``explain_url``)."""
    try:
        png = explain.explain_result(
            db, serving.model, runtime.queries, asked.query, asked.track_id, asked.options
        )
    except ResultError as exc:
        raise result_error(exc) from None
    return Response(png, media_type="image/png")


@contextmanager
def analysing(runtime: Runtime, db: Session) -> Iterator[None]:
    """Hold one of the process's analysis slots, and no database connection, while an
    upload is decoded and run through the networks (seconds to minutes on a CPU): the
    session's transaction ends first, so waiting requests never exhaust the pool."""
    db.rollback()  # only reads so far; the connection goes back to the pool
    with runtime.analysis.slot():
        yield


def _queue_long_video(
    staged: StagedFile, options: recommend.QueryOptions, runtime: Runtime, db: Session
) -> JSONResponse:
    """Long videos are answered by a job: 202 now, the result at ``GET /jobs/{id}``. The
    upload, staged in the query store, is kept there for the job (a rename)."""
    stored = staged.commit()
    job = new_job(
        db, RECOMMEND, {"media_key": stored.key, "options": recommend.options_to_params(options)}
    )
    db.commit()
    runtime.queue.submit(job.id)
    return JSONResponse(
        {"job_id": job.id, "job_url": f"/jobs/{job.id}", "status": "queued"}, status_code=202
    )


@router.post(
    "/similar/track",
    response_model=SimilarList,
    responses=error_responses(*PROTECTED, *UPLOAD, 404, *ANALYSIS),
    openapi_extra=multipart_body("audio of a reference track", required=False),
)
def similar_track(
    track_id: IdQuery = None,
    options: recommend.QueryOptions = Depends(query_options),
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
    serving: Serving | SimilarityServing = Depends(similar_serving),
    upload: Upload = Depends(reference_audio),
) -> dict:
    """Tracks like a catalog track or an uploaded recording, the track itself excluded.

    With an active similarity model (MuSimNet) the catalog is ranked in its space (one
    embedding per track, exact cosine ranking; ``method`` and ``shortlist`` do not
    apply); otherwise by the music branch's segment sequences with ``method``. The
    answer's ``space`` says which.
    """
    if (track_id is None) == (upload.file is None):
        raise ApiError(422, "invalid_request", "give exactly one of track_id or file")
    if track_id is not None:
        if db.get(Track, track_id) is None:
            raise not_found("track", track_id)
        try:
            return recommend.similar_to_track(db, serving.model, serving.index, track_id, options)
        except recommend.QueryError as exc:
            raise ApiError(409, "track_not_ready", str(exc)) from None
    path = upload.file.finish()
    with analysing(runtime, db):
        check_track_media(path, runtime.settings)
        embeddings = recommend.embed_reference_track(path, serving.model)
    return recommend.similar_to_embeddings(db, serving.model, serving.index, embeddings, options)
