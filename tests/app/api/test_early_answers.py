"""An answer given before the request body was read to its end closes the connection,
so that the client stops sending a body the server will not read."""

from __future__ import annotations

import pytest


@pytest.fixture
def keyed_client(make_client):
    return make_client(api_keys="w-secret=catalog:write")


def test_a_refusal_before_the_body_closes_the_connection(keyed_client) -> None:
    upload = {"files": {"file": ("a.wav", b"\0" * 50_000)}}
    response = keyed_client.post("/catalog/tracks", **upload)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert response.headers["connection"] == "close"
    response = keyed_client.post("/catalog/tracks", headers={"X-API-Key": "w-secret"}, **upload)
    assert response.status_code == 503  # no active model: refused before the body too
    assert response.headers["connection"] == "close"


def test_a_refusal_of_a_request_without_a_body_keeps_the_connection(keyed_client) -> None:
    response = keyed_client.get("/catalog/tracks")
    assert response.status_code == 401 and "connection" not in response.headers


def test_a_declared_body_over_the_limit_is_refused_unread_and_closes(make_client) -> None:
    client = make_client(max_upload_bytes=1000)
    response = client.post(
        "/catalog/tracks",
        content=b"\0" * (3 << 20),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert response.headers["connection"] == "close"
