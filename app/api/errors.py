"""JSON errors. Every failure answers ``{"error": code, "detail": message}``.

Domain exceptions are mapped to statuses here, in one table, so routes raise
what happened and never choose status codes for media problems themselves.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import public_message
from app.limits import ServiceBusy
from app.media_store import EmptyUploadError, UploadTooLargeError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "not_found", f"{what} {ident} does not exist")


# Media errors carry a ``reason``; those that mean "this is not media at all"
# are 415, a file too large is 413, everything else we could not use is 422.
_MEDIA_STATUS = {"not_media": 415, "unsupported_container": 415, "empty_file": 422, "too_long": 422}


def media_error_status(reason: str) -> int:
    return _MEDIA_STATUS.get(reason, 422)


def _json(status: int, code: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    from ml.media.errors import MediaError

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.code, exc.detail)

    @app.exception_handler(MediaError)
    async def _media_error(_: Request, exc: MediaError) -> JSONResponse:
        return _json(media_error_status(exc.reason), exc.reason, public_message(exc))

    from app.index.errors import CatalogIndexError
    from app.services.models import ModelRegistryError
    from app.services.recommend import QueryError

    @app.exception_handler(CatalogIndexError)
    async def _bad_search(_: Request, exc: CatalogIndexError) -> JSONResponse:
        return _json(422, "invalid_search", str(exc))

    @app.exception_handler(QueryError)
    async def _bad_query(_: Request, exc: QueryError) -> JSONResponse:
        return _json(422, "invalid_query", str(exc))

    @app.exception_handler(ModelRegistryError)
    async def _model_problem(_: Request, exc: ModelRegistryError) -> JSONResponse:
        return _json(409, "model_mismatch", str(exc))

    @app.exception_handler(UploadTooLargeError)
    async def _too_large(_: Request, exc: UploadTooLargeError) -> JSONResponse:
        return _json(413, "too_large", str(exc))

    @app.exception_handler(ServiceBusy)
    async def _busy(_: Request, exc: ServiceBusy) -> JSONResponse:
        return _json(503, "busy", str(exc), {"Retry-After": "10"})

    @app.exception_handler(EmptyUploadError)
    async def _empty(_: Request, exc: EmptyUploadError) -> JSONResponse:
        return _json(422, "empty_file", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _json(422, "invalid_request", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    app.add_middleware(UnexpectedErrors)


class UnexpectedErrors:
    """ASGI middleware: any other exception is logged once and answered 500 JSON.

    Starlette's own handler for ``Exception`` sends the 500 and then re-raises, so the
    server logs the error a second time and may reset the connection before the client
    has read the answer; this middleware answers and ends the request normally. After
    the answer has started, nothing can be sent: the error is logged and the connection
    ends as the server decides.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:  # noqa: BLE001  (the one place that turns any error into a 500)
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                return
            response = _json(
                500, "internal_error", "internal error; the server log has the details"
            )
            await response(scope, receive, send)
