"""Ids outside 1 .. 2**63 - 1 are a JSON 422 on every route that takes one, never a 500."""

from __future__ import annotations

import logging

import pytest

from app.api.params import MAX_ID

# ``POST /similar/track?track_id=`` needs a served catalog before it reads its parameters:
# tests/e2e/test_similar_ids.py.
ROUTES = [
    ("GET", "/catalog/tracks/{id}", None),
    ("DELETE", "/catalog/tracks/{id}", None),
    ("POST", "/models/{id}/activate", None),
]


def call(client, method: str, path: str, query: str | None, ident: int):
    if query is None:
        return client.request(method, path.format(id=ident))
    return client.request(method, path, params={query: ident})


@pytest.mark.parametrize(("method", "path", "query"), ROUTES)
def test_out_of_range_ids_are_422(make_client, database_url, caplog, method, path, query) -> None:
    client = make_client(database_url)
    caplog.set_level(logging.ERROR)
    for ident in (2**63, 2**64 + 5, -1, 0):
        response = call(client, method, path, query, ident)
        assert response.status_code == 422, (ident, response.text)
        body = response.json()
        assert body["error"] == "invalid_request"
        assert "track_id" in body["detail"] or "model_id" in body["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, q in ROUTES if q is None])
def test_the_largest_id_is_a_plain_404(make_client, database_url, method, path) -> None:
    client = make_client(database_url)
    response = call(client, method, path, None, MAX_ID)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_listing_offsets_beyond_any_row_are_empty_or_422(make_client, database_url) -> None:
    client = make_client(database_url)
    page = client.get("/catalog/tracks", params={"offset": MAX_ID})
    assert page.status_code == 200 and page.json()["tracks"] == []
    too_far = client.get("/catalog/tracks", params={"offset": 2**63})
    assert too_far.status_code == 422 and too_far.json()["error"] == "invalid_request"
