from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.migrate import upgrade
from app.settings import Settings


@pytest.fixture
def make_client(tmp_path) -> Iterator[Callable[..., TestClient]]:
    """Build an API client on a migrated database: ``make_client(api_keys=...)``."""
    clients: list[TestClient] = []

    def make(database_url: str | None = None, **overrides) -> TestClient:
        settings = Settings(data_dir=tmp_path / "var", database_url=database_url or "", **overrides)
        upgrade(settings.sqlalchemy_url)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
