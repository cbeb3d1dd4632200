"""Session transactions: a savepoint lives inside its session's transaction on SQLite as on
PostgreSQL, and concurrent read-then-write transactions on SQLite wait for each other
instead of failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from app.db.session import begin_write, get_engine, needs_begin, session_factory

metadata = MetaData()
probe = Table(
    "probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(32), unique=True),
)


@pytest.fixture
def url(database_url: str) -> Iterator[str]:
    metadata.create_all(get_engine(database_url))
    yield database_url
    get_engine.cache_clear()


def committed_names(url: str) -> list[str]:
    """What another connection sees: only committed rows."""
    with get_engine(url).connect() as other:
        return sorted(other.scalars(select(probe.c.name)))


def test_a_released_savepoint_stays_inside_the_session_transaction(url: str) -> None:
    # The shape of "create a track unless it exists, then its job": a read, a savepoint
    # around the insert, more work after it. Nothing is visible before the commit.
    with session_factory(url)() as db:
        assert db.scalar(select(func.count()).select_from(probe)) == 0
        with db.begin_nested():
            db.execute(insert(probe).values(name="track"))
        assert committed_names(url) == []  # released, not committed
        db.execute(insert(probe).values(name="job"))
        db.rollback()  # a crash before the commit: neither row exists
    assert committed_names(url) == []

    with session_factory(url)() as db:
        with db.begin_nested():
            db.execute(insert(probe).values(name="track"))
        db.execute(insert(probe).values(name="job"))
        db.commit()
    assert committed_names(url) == ["job", "track"]


def test_a_failed_savepoint_rolls_back_alone(url: str) -> None:
    with session_factory(url)() as db:
        db.execute(insert(probe).values(name="first"))
        db.commit()
    with session_factory(url)() as db:
        db.execute(insert(probe).values(name="kept"))
        with pytest.raises(IntegrityError):
            with db.begin_nested():
                db.execute(insert(probe).values(name="first"))  # a duplicate
        db.execute(insert(probe).values(name="after"))
        db.commit()
    assert committed_names(url) == ["after", "first", "kept"]


def test_a_savepoint_first_then_a_failure_leaves_nothing(url: str) -> None:
    with session_factory(url)() as db:
        with db.begin_nested():
            db.execute(insert(probe).values(name="track"))
        with pytest.raises(IntegrityError):
            db.execute(insert(probe).values(name="track"))  # the second write fails
        db.rollback()
    assert committed_names(url) == []


def test_read_then_write_after_another_commit_succeeds(url: str) -> None:
    with session_factory(url)() as db:
        assert db.scalar(select(func.count()).select_from(probe)) == 0
        with session_factory(url)() as other:  # commits between our read and our write
            other.execute(insert(probe).values(name="theirs"))
            other.commit()
        db.execute(insert(probe).values(name="ours"))
        db.commit()
    assert committed_names(url) == ["ours", "theirs"]


def test_sqlite_writers_that_read_first_run_one_after_the_other(sqlite_url: str) -> None:
    """Eight transactions each read the highest number and write the next one: with
    ``begin_write`` none reads a number another is about to write, and none fails."""
    url = sqlite_url
    metadata.create_all(get_engine(url))
    errors: list[BaseException] = []

    def next_number() -> None:
        try:
            with session_factory(url)() as db:
                begin_write(db)
                highest = db.scalar(select(func.max(probe.c.id))) or 0
                time.sleep(0.05)  # let the others try to read the same number
                db.execute(insert(probe).values(id=highest + 1, name=f"n{highest + 1}"))
                db.commit()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=next_number) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with get_engine(url).connect() as other:
        assert sorted(other.scalars(select(probe.c.id))) == list(range(1, 9))


@pytest.mark.parametrize(
    ("statement", "begins"),
    [
        ("SELECT tracks.id FROM tracks", False),
        ("  select 1", False),
        ("PRAGMA foreign_keys", False),
        ("RELEASE SAVEPOINT sa_savepoint_1", False),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_1", False),
        ("INSERT INTO tracks (title) VALUES (?)", True),
        ("UPDATE jobs SET status=?", True),
        ("DELETE FROM tracks", True),
        ("SAVEPOINT sa_savepoint_1", True),
        ("CREATE TABLE t (x)", True),
        ("WITH x AS (SELECT 1) DELETE FROM t", True),
    ],
)
def test_which_statements_open_a_transaction(statement: str, begins: bool) -> None:
    assert needs_begin(statement) is begins
