"""``GET /catalog/tracks/{id}/audio``: a catalog track's stored media, for listening.

The file is the one uploaded (audio, or a video whose soundtrack is the track), served
as stored with its media type guessed from the uploaded file's name; range requests are
answered, so a player can seek without fetching the whole file.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError, not_found
from app.api.params import IdPath
from app.api.schemas import DOCUMENTED_AUTH, PROTECTED, error_responses
from app.api.security import require_scope
from app.db.models import Track
from app.runtime import Runtime

router = APIRouter(prefix="/catalog", tags=["catalog"], dependencies=DOCUMENTED_AUTH)

#: The media type of a stored file whose uploaded name says nothing known.
FALLBACK_TYPE = "application/octet-stream"


def media_type_for(filename: str) -> str:
    """The media type a browser needs to play a file, from the name it was uploaded as."""
    guessed, _ = mimetypes.guess_type(filename or "")
    if guessed and guessed.split("/")[0] in ("audio", "video"):
        return guessed
    return FALLBACK_TYPE


@router.get(
    "/tracks/{track_id}/audio",
    dependencies=[Depends(require_scope("catalog:write", "recommend"))],
    response_class=FileResponse,
    responses={
        200: {
            "description": "the track's media as uploaded (audio, or a video with the track "
            "as its soundtrack); range requests are answered with 206",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("audio/*", "video/*", FALLBACK_TYPE)
            },
        },
        **error_responses(*PROTECTED, 404, 422),
    },
)
def track_audio(
    track_id: IdPath, runtime: Runtime = Depends(get_runtime), db: Session = Depends(get_db)
) -> FileResponse:
    """The stored media of a catalog track (any status), to listen to it."""
    track = db.get(Track, track_id)
    if track is None:
        raise not_found("track", track_id)
    path = runtime.media.path_for(track.media_key)
    if not path.is_file():
        raise ApiError(404, "not_found", f"the media of track {track_id} is no longer stored")
    return FileResponse(path, media_type=media_type_for(track.original_filename))
