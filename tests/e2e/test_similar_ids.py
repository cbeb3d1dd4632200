"""``POST /similar/track?track_id=`` with an id no row can have: a JSON 422, never a 500."""

from __future__ import annotations

import logging

import pytest

from app.api.params import MAX_ID


@pytest.mark.slow
def test_similar_track_ids_out_of_range_are_422(make_service, driver, caplog) -> None:
    client = make_service()
    driver.ingest(client, driver.clip_ids()[:1])
    caplog.set_level(logging.ERROR)
    for ident in (2**63, 2**64 + 5, -1, 0):
        response = client.post("/similar/track", params={"track_id": ident})
        assert response.status_code == 422, (ident, response.text)
        assert response.json()["error"] == "invalid_request"
        assert "track_id" in response.json()["detail"]
    unknown = client.post("/similar/track", params={"track_id": MAX_ID})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
