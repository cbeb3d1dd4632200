"""API-key holes: revoking the last key, non-ASCII keys, `v2m keys list|revoke`, /readyz details."""

from __future__ import annotations

import logging

import pytest

from app.api.security import hash_key
from app.db.models import ApiKey
from app.db.session import session_scope
from app.settings import get_settings
from cli.main import main

PROBE_ROUTES = ("/jobs/x", "/models", "/catalog/tracks")  # job status, admin, catalog read
BOOLEANS_ONLY = {
    "ready": False,
    "checks": {
        "database": {"ok": True},
        "model": {"ok": False},
        "broker": {"ok": True},
        "index": {"ok": False},
    },
}


@pytest.fixture
def v2m(tmp_path, monkeypatch, capsys):
    """Run `v2m ...` on the database that ``make_client`` uses; returns (code, out, err)."""
    for name in ("V2M_DATABASE_URL", "V2M_API_KEYS", "V2M_REQUIRE_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("V2M_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out, err = capsys.readouterr()
        return exit_info.value.code, out, err

    yield run
    get_settings.cache_clear()


def closed(client, key: str | None = None) -> bool:
    headers = {"X-API-Key": key} if key else {}
    return all(client.get(path, headers=headers).status_code == 401 for path in PROBE_ROUTES)


def test_revoking_the_last_issued_key_does_not_open_the_service(make_client, v2m, monkeypatch):
    monkeypatch.setattr("app.runtime._AUTH_CACHE_S", 0.0)  # every request past the cache
    client = make_client()
    assert client.get("/models").status_code == 200  # nothing issued yet: open
    code, secret, _ = v2m("keys", "issue", "ops", "--scopes", "admin")
    assert code == 0
    secret = secret.strip()
    assert closed(client)
    assert client.get("/models", headers={"X-API-Key": secret}).status_code == 200

    code, out, err = v2m("keys", "revoke", "1")
    assert code == 0 and "revoked key 1 'ops'" in out and "no valid key is left" in err
    assert closed(client) and closed(client, secret)
    assert client.get("/readyz").json() == BOOLEANS_ONLY

    restarted = make_client()  # a new process on the same database: nothing valid, still closed
    assert closed(restarted) and closed(restarted, secret)
    assert restarted.get("/healthz").status_code == 200  # probes stay open


def test_revoked_rows_keep_keys_required_past_the_auth_cache(make_client) -> None:
    client = make_client()
    url = client.app.state.runtime.settings.sqlalchemy_url
    with session_scope(url) as db:
        db.add(ApiKey(name="gone", key_hash=hash_key("old-secret"), scopes="admin", revoked=True))
    runtime = client.app.state.runtime
    for _ in range(2):
        runtime._auth_checked_at = -1e9  # the 5 s cache interval has passed
        assert closed(client) and closed(client, "old-secret")


def test_require_api_keys_forces_keys_with_none_configured(make_client, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="app.runtime"):
        client = make_client(require_api_keys=True)
    assert closed(client)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == BOOLEANS_ONLY
    assert "none is valid" in caplog.text and "NO API KEYS CONFIGURED" not in caplog.text


@pytest.mark.parametrize(
    "header",
    [
        {"X-API-Key": "clé-secrète".encode()},
        {"X-API-Key": "clé".encode("latin-1")},
        {"Authorization": "Bearer ключ".encode()},
    ],
)
def test_a_non_ascii_key_is_a_401(make_client, header) -> None:
    client = make_client(api_keys="a-secret=admin")
    for path in PROBE_ROUTES:
        response = client.get(path, headers=header)
        assert response.status_code == 401, (path, response.text)
        assert response.json() == {"error": "unauthorized", "detail": "unknown or revoked API key"}
    assert client.get("/readyz", headers=header).json() == BOOLEANS_ONLY


def test_a_non_ascii_key_is_a_401_with_database_keys(make_client) -> None:
    client = make_client()
    with session_scope(client.app.state.runtime.settings.sqlalchemy_url) as db:
        db.add(ApiKey(name="ops", key_hash=hash_key("db-secret"), scopes="admin"))
    client.app.state.runtime._auth_checked_at = -1e9
    assert client.get("/models", headers={"X-API-Key": "ü".encode()}).status_code == 401


def test_readyz_details_are_for_admin_keys_when_keys_are_required(make_client) -> None:
    client = make_client(api_keys="r-secret=recommend;a-secret=admin")
    for headers in ({}, {"X-API-Key": "r-secret"}, {"X-API-Key": "wrong"}):
        response = client.get("/readyz", headers=headers)
        assert response.status_code == 503  # the status code is for everyone
        assert response.json() == BOOLEANS_ONLY
    for headers in ({"X-API-Key": "a-secret"}, {"Authorization": "Bearer a-secret"}):
        checks = client.get("/readyz", headers=headers).json()["checks"]
        assert checks["model"] == {"ok": False, "detail": "no active model"}
        assert checks["broker"] == {"ok": True, "mode": "in-process"}


def test_keys_list_shows_everything_but_the_secret(make_client, v2m) -> None:
    make_client()
    code, out, err = v2m("keys", "list")
    assert code == 0 and out == "" and "no key issued" in err
    _, first, err = v2m("keys", "issue", "ci-bot", "--scopes", "recommend", "catalog:write")
    assert "key 1 'ci-bot'" in err
    _, second, _ = v2m("keys", "ops", "--scopes", "admin")  # the form from before `issue`
    assert v2m("keys", "revoke", "2")[0] == 0
    code, out, _ = v2m("keys", "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["id", "name", "scopes", "created", "(UTC)", "status"]
    assert [row.split()[:3] + row.split()[-1:] for row in rows] == [
        ["1", "ci-bot", "catalog:write,recommend", "active"],
        ["2", "ops", "admin", "revoked"],
    ]
    for secret in (first.strip(), second.strip()):
        assert secret not in out and hash_key(secret) not in out


def test_keys_revoke_unknown_and_repeated_ids(make_client, v2m) -> None:
    client = make_client()
    v2m("keys", "issue", "a", "--scopes", "admin")
    _, keep, _ = v2m("keys", "issue", "b", "--scopes", "admin")
    code, out, err = v2m("keys", "revoke", "1", "7")
    assert code == 1 and "revoked key 1 'a'" in out and "no key with id 7" in err
    assert "no valid key is left" not in err  # key 2 still works
    code, out, _ = v2m("keys", "revoke", "1")
    assert code == 0 and "already revoked" in out
    client.app.state.runtime._auth_checked_at = -1e9
    assert client.get("/models", headers={"X-API-Key": keep.strip()}).status_code == 200


def test_keys_help_names_the_actions(v2m) -> None:
    code, out, _ = v2m("keys", "--help")
    assert code == 0 and all(action in out for action in ("issue", "list", "revoke"))
    code, out, _ = v2m("keys", "revoke", "--help")
    assert code == 0 and "by id" in out
