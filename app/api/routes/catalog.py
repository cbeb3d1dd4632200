"""The catalog: upload a track, list, read and delete tracks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError, not_found
from app.api.params import IdPath, OffsetQuery
from app.api.schemas import (
    DOCUMENTED_AUTH,
    PROTECTED,
    UPLOAD,
    IngestAccepted,
    TrackDeleted,
    TrackOut,
    TrackPage,
    error_responses,
)
from app.api.security import require_scope
from app.api.uploads import Upload, multipart_body, upload_dependency
from app.db.models import Track
from app.runtime import Runtime
from app.services import catalog
from app.services.models import active_model
from app.services.search_index import publish_changes

router = APIRouter(prefix="/catalog", tags=["catalog"], dependencies=DOCUMENTED_AUTH)
write = Depends(require_scope("catalog:write"))
read = Depends(require_scope("catalog:write", "recommend"))


def ingest_model_ready(db: Session = Depends(get_db)) -> None:
    """Ingestion needs an active model: said before an upload is read."""
    if active_model(db) is None:
        raise ApiError(
            503, "no_active_model", "no active model: register and activate one before ingesting"
        )


track_upload = upload_dependency(lambda runtime: runtime.media, after=ingest_model_ready)


@router.post(
    "/tracks",
    dependencies=[write],
    status_code=202,
    response_model=IngestAccepted,
    response_description="a new track, its ingest job queued",
    responses={
        200: {
            "model": IngestAccepted,
            "description": "this content is already in the catalog: the "
            "existing track (duplicate: true)",
        },
        **error_responses(*PROTECTED, *UPLOAD, 503),
    },
    openapi_extra=multipart_body(
        "audio, or a video whose soundtrack is the track",
        metadata_description="JSON: title, artist, license, tags, ...",
    ),
)
def upload_track(
    upload: Annotated[Upload, Depends(track_upload)],
    runtime: Runtime = Depends(get_runtime),
    db: Session = Depends(get_db),
) -> JSONResponse:
    # The upload was read after the key and the model were checked, straight into the
    # media store's staging file: checked there, then kept under its hash (a rename).
    try:
        meta = catalog.TrackMetadata.parse(upload.fields.get("metadata"))
    except catalog.MetadataError as exc:
        raise ApiError(422, "invalid_metadata", str(exc)) from None
    info = catalog.check_track_media(upload.file.finish(), runtime.settings)
    stored = upload.file.commit()
    added = catalog.add_track(db, stored, info, meta, upload.filename or "upload")
    db.commit()
    if added.created:
        runtime.queue.submit(added.job.id)
    job_id = added.job.id if added.job else None
    body = {
        "track_id": added.track.id,
        "job_id": job_id,
        "job_url": f"/jobs/{job_id}" if job_id else None,
        "status": "queued" if added.created else added.track.status.value,
        "duplicate": not added.created,
    }
    return JSONResponse(body, status_code=202 if added.created else 200)


@router.get(
    "/tracks",
    dependencies=[read],
    response_model=TrackPage,
    responses=error_responses(*PROTECTED, 422),
)
def list_tracks(
    status: Annotated[str | None, Query(pattern="^(pending|processing|ready|failed)$")] = None,
    artist: str | None = None,
    license: str | None = None,
    tag: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: OffsetQuery = 0,
    db: Session = Depends(get_db),
) -> dict:
    rows, total = catalog.list_tracks(
        db, catalog.TrackQuery(status, artist, license, tag, q, limit, offset)
    )
    return {
        "tracks": [catalog.track_summary(t) for t in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get(
    "/tracks/{track_id}",
    dependencies=[read],
    response_model=TrackOut,
    responses=error_responses(*PROTECTED, 404, 422),
)
def get_track(track_id: IdPath, db: Session = Depends(get_db)) -> dict:
    track = db.get(Track, track_id)
    if track is None:
        raise not_found("track", track_id)
    return catalog.track_summary(track)


@router.delete(
    "/tracks/{track_id}",
    dependencies=[write],
    response_model=TrackDeleted,
    responses=error_responses(*PROTECTED, 404, 422),
)
def delete_track(
    track_id: IdPath, runtime: Runtime = Depends(get_runtime), db: Session = Depends(get_db)
) -> dict:
    track = db.get(Track, track_id)
    if track is None:
        raise not_found("track", track_id)
    deleted = catalog.delete_track(db, track)
    db.commit()
    if deleted.orphaned_media_key:
        runtime.media.delete(deleted.orphaned_media_key)
    publish_changes(runtime.settings, db, deleted.model_ids)
    return {"track_id": track_id, "deleted": True}
