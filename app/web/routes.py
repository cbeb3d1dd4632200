"""Serves the page at ``/`` and its files at ``/web/{name}``, from ``app/web/static``.

The page holds no data: everything it shows comes from the API, called from the
browser with the person's key, so these routes need no key. Only the files listed in
:data:`FILES` are served (no path from the request ever reaches the file system), and
none of it is part of the API's OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.api.errors import ApiError

STATIC = Path(__file__).resolve().parent / "static"

#: The page's files and their media types.
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


def page_file(name: str) -> FileResponse:
    """One of the page's files, revalidated by the browser on each load (so a new
    version of the service is never shown with an old script)."""
    if name not in FILES:
        raise ApiError(404, "not_found", f"no page file {name!r}")
    return FileResponse(
        STATIC / name, media_type=FILES[name], headers={"Cache-Control": "no-cache"}
    )


@router.get("/")
def index() -> FileResponse:
    """The page."""
    return page_file("index.html")


@router.get("/web/{name}")
def asset(name: str) -> FileResponse:
    """The page's script and style sheet."""
    return page_file(name)
