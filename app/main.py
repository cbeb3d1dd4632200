"""The FastAPI application factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.errors import install_error_handlers
from app.api.routes import (
    catalog,
    health,
    jobs,
    models,
    preview,
    recommend,
    sections,
    track_audio,
)
from app.api.schemas import use_real_error_bodies
from app.api.uploads import sweep_partial_uploads
from app.limits import BodySizeLimitMiddleware
from app.metrics import Metrics, MetricsMiddleware
from app.runtime import Runtime
from app.settings import Settings, get_settings
from app.web import routes as web

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.runtime = runtime or Runtime(settings)
        sweep_partial_uploads(app.state.runtime.settings)
        app.state.runtime.start()
        try:
            yield
        finally:
            app.state.runtime.close()

    app = FastAPI(
        title="v2m",
        version="0.1.0",
        lifespan=lifespan,
        summary="Video-to-music recommendation over your own catalog.",
    )
    app.state.metrics = Metrics()
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(models.router)
    app.include_router(catalog.router)
    app.include_router(recommend.router)
    app.include_router(sections.router)
    app.include_router(preview.router)
    app.include_router(track_audio.router)
    app.include_router(web.router)
    _document_real_errors(app)
    return app


def _document_real_errors(app: FastAPI) -> None:
    """``/openapi.json`` names the error body the handlers really send (see schemas)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = use_real_error_bodies(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
