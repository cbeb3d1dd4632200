"""Multipart uploads, read as a stream once the route has checked everything else.

FastAPI reads (and spools to disk) a whole form before it runs a route's dependencies,
so a route declaring ``File()`` has stored an upload before it looks at the API key.
The upload routes take the body raw instead, through :func:`upload_dependency`: the
key and its scopes, the query parameters and the model are checked first, and the
database connection goes back to the pool; then :func:`receive_upload` reads the body
as it arrives, on the event loop (no worker thread waits on a slow client):

* the ``file`` part goes straight into a media store's staging file, counted and
  hashed as it goes (:class:`app.media_store.StagedFile`), about a megabyte per write,
  and reading stops as soon as it passes the size limit (413);
* every other part is a small form field (``metadata``), kept in memory up to
  :data:`MAX_FIELD_BYTES` for all of them together (413 past that);
* nothing is spooled anywhere else: the upload is on disk once, where it will stay if
  it is kept (a rename), removed if not.

The contract is the one clients know: multipart/form-data, the file in ``file``, track
metadata as JSON in the form field ``metadata``, everything else in the query string.
:func:`multipart_body` describes that body in the OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
from fastapi import Depends, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError
from app.media_store import MediaStore, StagedFile, UploadTooLargeError
from app.runtime import Runtime
from app.settings import Settings

log = logging.getLogger(__name__)

FILE_FIELD = "file"
#: Bytes the form fields other than ``file`` may hold together (metadata: a few kB).
MAX_FIELD_BYTES = 1024 * 1024
#: File bytes gathered in memory before one write to the staging file.
WRITE_BYTES = 1024 * 1024


@dataclass
class Upload:
    """A multipart body received: the staged ``file`` (None when none was sent), the
    file name its client gave, and the other form fields, by name."""

    file: StagedFile | None = None
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        """Remove the staged file unless it was committed to its store."""
        if self.file is not None:
            self.file.discard()


def query_store(settings: Settings) -> MediaStore:
    """Where uploaded queries are staged, and kept while a job answers a long video."""
    return MediaStore(settings.data_dir / "queries")


def sweep_partial_uploads(settings: Settings) -> int:
    """Remove the half-written uploads that killed processes left in the media and query
    stores (a live upload's file is locked and stays); returns how many."""
    removed = sum(
        store.sweep_partial() for store in (MediaStore(settings.media_dir), query_store(settings))
    )
    if removed:
        log.info("removed %d partial uploads left by a stopped process", removed)
    return removed


class _MultipartReader:
    """python-multipart's callbacks for one body: the ``file`` part into a staging file
    (its bytes gathered in :attr:`pending` until written), other parts into memory; the
    limits are enforced as the bytes arrive, before any of them is kept."""

    def __init__(self, boundary: bytes, stage: Callable[[], StagedFile], max_file_bytes: int):
        self.upload = Upload()
        self.pending = bytearray()  # file bytes not written yet
        self.complete = False  # the closing boundary was seen
        self._stage, self._max_file_bytes = stage, max_file_bytes
        self._file_bytes = self._field_bytes = 0
        self._header_name, self._header_value = bytearray(), bytearray()
        self._disposition = b""
        self._name = ""
        self._value = bytearray()
        self._in_file = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def _part_begin(self) -> None:
        self._disposition, self._value, self._in_file = b"", bytearray(), False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise ApiError(
                400,
                "malformed_body",
                "a part of the multipart body has no name "
                "(Content-Disposition: form-data; name=...)",
            )
        self._name = _text(options[b"name"])
        if self._name != FILE_FIELD:
            return
        if self.upload.file is not None:
            raise ApiError(422, "invalid_request", f"send one file, in the field '{FILE_FIELD}'")
        self.upload.file = self._stage()
        self.upload.filename = _text(options[b"filename"]) if b"filename" in options else None
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._file_bytes += end - start
            if self._file_bytes > self._max_file_bytes:
                raise UploadTooLargeError(self._max_file_bytes)
            self.pending += data[start:end]
            return
        self._field_bytes += end - start
        if self._field_bytes > MAX_FIELD_BYTES:
            raise ApiError(
                413,
                "too_large",
                f"the form field '{self._name}' is too large: the form fields "
                f"other than '{FILE_FIELD}' may hold {MAX_FIELD_BYTES} bytes in all",
            )
        self._value += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            return
        try:
            self.upload.fields[self._name] = self._value.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(
                422, "invalid_request", f"the form field '{self._name}' is not UTF-8 text"
            ) from None

    def _end(self) -> None:
        self.complete = True

    async def write_pending(self) -> None:
        """Write the gathered file bytes to the staging file, off the event loop."""
        if self.pending:
            data, self.pending = self.pending, bytearray()
            await anyio.to_thread.run_sync(self.upload.file.write, data)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


async def receive_upload(
    request: Request, store: MediaStore, max_file_bytes: int, *, required: bool = True
) -> Upload:
    """Read the request's multipart body as it arrives (see the module's description).

    The ``file`` part is staged in ``store``; reading stops at ``max_file_bytes`` of it
    (:class:`UploadTooLargeError`). Without a multipart body, a route whose file is
    optional (``required=False``) gets an empty :class:`Upload` and the body is not read.
    Errors are :class:`ApiError`: 400 for a malformed or unfinished body, 413 for form
    fields over their limit, 422 for a missing file. On any error nothing stays on disk.
    """
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        if not required:
            return Upload()
        raise ApiError(
            422,
            "invalid_request",
            f"send the media as multipart/form-data, in the field '{FILE_FIELD}'",
        )
    if not options.get(b"boundary"):
        raise ApiError(400, "malformed_body", "multipart/form-data without a boundary")
    reader = _MultipartReader(
        options[b"boundary"], lambda: store.stage(max_file_bytes), max_file_bytes
    )
    try:
        async for chunk in request.stream():
            reader.parser.write(chunk)
            if len(reader.pending) >= WRITE_BYTES:
                await reader.write_pending()
        await reader.write_pending()
        reader.parser.finalize()
        if not reader.complete:
            raise ApiError(
                400, "malformed_body", "the multipart body ends before its closing boundary"
            )
    except ClientDisconnect:
        reader.upload.discard()
        raise ApiError(
            400, "incomplete_body", "the client closed the connection before the end of the body"
        ) from None
    except FormParserError as exc:
        reader.upload.discard()
        raise ApiError(400, "malformed_body", f"the multipart body is malformed: {exc}") from None
    except BaseException:
        reader.upload.discard()
        raise
    if required and reader.upload.file is None:
        raise ApiError(
            422,
            "invalid_request",
            f"no file: send the media as multipart/form-data, in the field '{FILE_FIELD}'",
        )
    return reader.upload


def _nothing() -> None:
    return None


def upload_dependency(
    store_of: Callable[[Runtime], MediaStore], *, required: bool = True, after: Callable = _nothing
) -> Callable[..., AsyncIterator[Upload]]:
    """A FastAPI dependency yielding the request's :class:`Upload`, staged in
    ``store_of(runtime)`` under ``max_upload_bytes``, and discarded after the request
    unless the route committed it.

    FastAPI solves a route's ``dependencies=[...]`` first, then its parameters in order:
    list this one after those that may refuse the request (key, model). ``after`` is a
    dependency whose invalid parameters must stop the request before the body is read
    (FastAPI gathers validation errors and goes on solving siblings, not dependents).
    """

    async def upload(
        request: Request,
        _: object = Depends(after),
        runtime: Runtime = Depends(get_runtime),
        db: Session = Depends(get_db),
    ) -> AsyncIterator[Upload]:
        await run_in_threadpool(db.rollback)  # no database connection held during the upload
        received = await receive_upload(
            request, store_of(runtime), runtime.settings.max_upload_bytes, required=required
        )
        try:
            yield received
        finally:
            received.discard()

    return upload


def multipart_body(
    file_description: str, *, required: bool = True, metadata_description: str | None = None
) -> dict:
    """``openapi_extra`` for a route taking its upload through :func:`upload_dependency`:
    the request body FastAPI would document for ``File()`` (and ``Form()``) parameters."""
    properties: dict[str, dict] = {
        FILE_FIELD: {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "title": "File",
            "description": file_description,
        }
    }
    if metadata_description is not None:
        properties["metadata"] = {
            "type": "string",
            "title": "Metadata",
            "description": metadata_description,
        }
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = [FILE_FIELD]
    return {
        "requestBody": {
            "required": required,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }
