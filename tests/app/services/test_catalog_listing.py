"""``GET /catalog/tracks`` pages and counts in the database, filters included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from app.db.models import Track, TrackStatus
from app.db.session import get_engine, session_scope
from app.migrate import upgrade
from app.services.catalog import TrackQuery, list_tracks


def add_tracks(url: str, n: int) -> None:
    with session_scope(url) as db:
        for i in range(n):
            db.add(
                Track(
                    title=f"song {i:02d}",
                    artist=f"artist-{i % 3}",
                    license="CC0",
                    tags=["even" if i % 2 == 0 else "odd", f"t{i}"],
                    content_hash=f"{i:064x}",
                    media_key=f"{i:064x}",
                    status=TrackStatus.ready if i % 4 else TrackStatus.failed,
                )
            )


@contextmanager
def statements(url: str) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_):
        seen.append(statement)

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def listing(url: str, **query) -> tuple[list[str], int, list[str]]:
    with statements(url) as sent, session_scope(url) as db:
        rows, total = list_tracks(db, TrackQuery(**query))
        titles = [t.title for t in rows]
    return titles, total, sent


def test_pages_and_totals(database_url: str) -> None:
    upgrade(database_url)
    add_tracks(database_url, 30)
    titles, total, sent = listing(database_url, limit=5, offset=10)
    assert titles == [f"song {i:02d}" for i in range(10, 15)] and total == 30
    selects = [s for s in sent if "FROM tracks" in s]
    assert any("count(" in s.lower() for s in selects)
    rows_query = [s for s in selects if "count(" not in s.lower()]
    assert rows_query and all("LIMIT" in s and "OFFSET" in s for s in rows_query)


def test_filters_are_sql_on_both_databases(database_url: str) -> None:
    upgrade(database_url)
    add_tracks(database_url, 30)
    titles, total, _ = listing(database_url, tag="even", limit=3, offset=2)
    assert titles == ["song 04", "song 06", "song 08"] and total == 15
    titles, total, _ = listing(database_url, tag="t7")
    assert titles == ["song 07"] and total == 1
    _, total, _ = listing(database_url, tag="t", artist="artist-1")
    assert total == 0  # a tag matches whole, not as a substring
    titles, total, _ = listing(database_url, tag="odd", status="failed", artist="artist-0")
    assert total == 0 and titles == []  # odd tracks are never status failed here
    titles, total, _ = listing(database_url, status="failed", q="SONG 1", limit=10)
    assert titles == ["song 12", "song 16"] and total == 2
    _, total, _ = listing(database_url, q="song\x00", artist="a\x00")
    assert total == 0  # text no row can hold matches nothing (PostgreSQL refuses NUL)
