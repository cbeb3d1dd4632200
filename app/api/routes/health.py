"""Liveness, readiness, Prometheus metrics, and what the presented key may do."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.schemas import Access, Health, Readiness
from app.api.security import presented_key, scopes_for
from app.runtime import Runtime
from app.services.model_kind import RECOMMEND
from app.services.models import active_model, active_similarity_model
from app.settings import SCOPES

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/access", response_model=Access)
def access(
    request: Request, runtime: Runtime = Depends(get_runtime), db: Session = Depends(get_db)
) -> dict:
    """What the presented key may do, so that a client (the page) shows only what it
    can use. Never refused: an unknown key is said to be unknown, with no scope."""
    if not runtime.auth_enabled(db):
        return {"required": False, "key": "none", "scopes": list(SCOPES)}
    secret = presented_key(request)
    if secret is None:
        return {"required": True, "key": "none", "scopes": []}
    scopes = scopes_for(secret, runtime, db)
    if scopes is None:
        return {"required": True, "key": "unknown", "scopes": []}
    return {"required": True, "key": "valid", "scopes": sorted(scopes)}


@router.get(
    "/readyz",
    response_model=Readiness,
    response_description="ready",
    responses={503: {"model": Readiness, "description": "not ready: the failing checks say why"}},
)
def readyz(request: Request, runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
    """Can this process serve requests? Each dependency is checked and reported.

    When keys are required, the details (model names, catalog size, errors) are for an
    ``admin`` key only; anyone else gets ``ready`` and each check's ``ok``.
    """
    checks: dict[str, dict] = {}
    try:
        with runtime.session() as db:
            db.execute(text("SELECT 1"))
            model = active_model(db)
            similarity = active_similarity_model(db)
        checks["database"] = {"ok": True}
        checks["model"] = (
            {
                "ok": True,
                "name": model.name,
                "kind": model.kind,
                "similarity_model": similarity.name if similarity else None,
            }
            if model
            else {"ok": False, "detail": "no active model"}
        )
    except Exception as exc:  # noqa: BLE001  (readiness reports, it does not raise)
        checks["database"] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        checks["model"] = {"ok": False, "detail": "database unavailable"}
    checks["broker"] = (
        {"ok": runtime.queue.ping(), "mode": "celery"}
        if runtime.settings.broker_url
        else {"ok": True, "mode": "in-process"}
    )
    checks["index"] = _index_check(runtime, model_ok=checks["model"]["ok"])
    ready = all(check["ok"] for check in checks.values())
    if not _shows_details(request, runtime):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    response_description="Prometheus text exposition format",
)
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


def _shows_details(request: Request, runtime: Runtime) -> bool:
    """To anyone when keys are not required, else to an ``admin`` key; closed on any error."""
    try:
        with runtime.session() as db:
            if not runtime.auth_enabled(db):
                return True
            secret = presented_key(request)
            return secret is not None and "admin" in (scopes_for(secret, runtime, db) or ())
    except Exception:  # noqa: BLE001  (e.g. the database is down: the booleans only)
        return False


def _index_check(runtime: Runtime, model_ok: bool) -> dict:
    if not model_ok:
        return {"ok": False, "detail": "no active model"}
    try:
        with runtime.session() as db:
            index = runtime.indexes[RECOMMEND].for_model(db, active_model(db))
        return {"ok": True, "tracks": int(len(index.track_ids())), "watermark": index.watermark}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
