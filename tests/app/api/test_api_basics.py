"""Health, readiness, metrics, JSON errors and API-key scopes."""

from __future__ import annotations

import pytest

from app.api.security import hash_key
from app.db.models import ApiKey, Job
from app.db.session import session_scope


def test_healthz_and_honest_readyz(make_client) -> None:
    client = make_client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503  # no model and no index yet: not ready, and says why
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["broker"] == {"ok": True, "mode": "in-process"}
    assert checks["model"] == {"ok": False, "detail": "no active model"}


def test_readyz_reports_an_unreachable_broker(make_client) -> None:
    client = make_client(broker_url="redis://127.0.0.1:9/0")  # port 9: nothing listens
    broker = client.get("/readyz").json()["checks"]["broker"]
    assert broker == {"ok": False, "mode": "celery"}


def test_metrics_are_prometheus_text(make_client) -> None:
    client = make_client()
    client.get("/healthz")
    body = client.get("/metrics").text
    assert 'v2m_http_requests_total{method="GET",route="/healthz",status="200"}' in body


def test_unknown_routes_and_ids_are_json_404(make_client) -> None:
    client = make_client()
    for path in ("/nope", "/jobs/0b1e7a5c-0000-4000-8000-000000000000"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found" and response.json()["detail"]


@pytest.fixture
def keyed_client(make_client):
    return make_client(api_keys="w-secret=catalog:write;r-secret=recommend;a-secret=admin")


def test_requests_without_a_key_get_401(keyed_client) -> None:
    response = keyed_client.get("/jobs/x")
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert keyed_client.get("/jobs/x", headers={"X-API-Key": "wrong"}).status_code == 401
    assert keyed_client.get("/healthz").status_code == 200  # probes stay open


def test_scopes(keyed_client, tmp_path) -> None:
    url = keyed_client.app.state.runtime.settings.sqlalchemy_url
    with session_scope(url) as db:
        db.add(Job(id="j1", kind="probe", params={}, stage="queued"))
    for key in ("w-secret", "r-secret", "a-secret"):
        assert keyed_client.get("/jobs/j1", headers={"X-API-Key": key}).status_code == 200
    for key, status in (("w-secret", 403), ("r-secret", 403), ("a-secret", 200)):
        assert keyed_client.get("/models", headers={"X-API-Key": key}).status_code == status
    forbidden = keyed_client.get("/models", headers={"X-API-Key": "r-secret"}).json()
    assert forbidden == {"error": "forbidden", "detail": "this key lacks the scope 'admin'"}
    bearer = {"Authorization": "Bearer r-secret"}
    assert keyed_client.get("/jobs/j1", headers=bearer).json()["status"] == "queued"


def test_database_keys_enable_auth_and_scopes(make_client) -> None:
    client = make_client()
    url = client.app.state.runtime.settings.sqlalchemy_url
    with session_scope(url) as db:
        db.add(ApiKey(name="ops", key_hash=hash_key("db-secret"), scopes="admin"))
        db.add(ApiKey(name="viewer", key_hash=hash_key("narrow"), scopes="catalog:write"))
        db.add(Job(id="j2", kind="probe", params={}, stage="queued"))
    client.app.state.runtime._auth_checked_at = -1e9  # skip the 5 s cache in the test
    assert client.get("/jobs/j2").status_code == 401
    assert client.get("/jobs/j2", headers={"X-API-Key": "db-secret"}).status_code == 200
