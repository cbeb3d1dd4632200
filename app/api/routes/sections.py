"""``POST /similar/section``: spans of catalog tracks matching a span of music."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError, not_found
from app.api.params import IdQuery
from app.api.routes.recommend import analysing
from app.api.schemas import (
    ANALYSIS,
    DOCUMENTED_AUTH,
    PROTECTED,
    UPLOAD,
    SectionList,
    error_responses,
)
from app.api.security import require_scope
from app.api.serving import Serving, get_serving, query_options, reference_audio
from app.api.uploads import Upload, multipart_body
from app.db.models import Track
from app.runtime import Runtime
from app.services import sections
from app.services.catalog import check_track_media
from app.services.recommend import QueryError, QueryOptions

router = APIRouter(
    tags=["recommend"], dependencies=[Depends(require_scope("recommend")), *DOCUMENTED_AUTH]
)

Seconds = Annotated[float | None, Query(ge=0, description="seconds in the track")]


@router.post(
    "/similar/section",
    response_model=SectionList,
    responses=error_responses(*PROTECTED, *UPLOAD, 404, *ANALYSIS),
    openapi_extra=multipart_body("an audio excerpt to find in other tracks", required=False),
)
def similar_section(
    track_id: IdQuery = None,
    start_s: Seconds = None,
    end_s: Seconds = None,
    options: QueryOptions = Depends(query_options),
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
    serving: Serving = Depends(get_serving),
    upload: Upload = Depends(reference_audio),
) -> dict:
    """Spans of catalog tracks that match a span of a catalog track (``track_id``,
    ``start_s``, ``end_s``; the track itself left out) or an uploaded excerpt, ranked by
    the local alignment of their music-branch segments, each span placed on the track's
    bars (docs/api.md)."""
    if (track_id is None) == (upload.file is None):
        raise ApiError(422, "invalid_request", "give exactly one of track_id or file")
    try:
        if track_id is not None:
            if start_s is None or end_s is None:
                raise QueryError("a span of a track needs start_s and end_s")
            if db.get(Track, track_id) is None:
                raise not_found("track", track_id)
            query = sections.track_span(db, serving.model, track_id, start_s, end_s)
        else:
            if start_s is not None or end_s is not None:
                raise QueryError("start_s and end_s go with track_id; trim the file instead")
            path = upload.file.finish()
            with analysing(runtime, db):
                check_track_media(path, runtime.settings)
                query = sections.recording(path, serving.model)
    except QueryError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    return sections.similar_sections(
        db, serving.model, serving.index, query, options, exclude=track_id
    )
