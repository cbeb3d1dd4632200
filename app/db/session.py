"""Engines and sessions. One engine per database URL and process.

SQLite transactions. Left to itself, Python's ``sqlite3`` driver opens a transaction
only before INSERT/UPDATE/DELETE, so a SAVEPOINT (``Session.begin_nested``) issued
first opens one of SQLite's own, and releasing that savepoint COMMITS it: the rows
written inside became visible, and permanent, before the session committed. Following
SQLAlchemy's recipe for the pysqlite driver ("Serializable isolation / Savepoints /
Transactional DDL"), the driver's own transaction handling is switched off on connect
and this module emits ``BEGIN`` itself, so a savepoint always lives inside the
session's transaction and is released into it.

``BEGIN`` is emitted before the transaction's first statement that writes (or opens a
savepoint), as ``BEGIN IMMEDIATE``: the write lock is taken at once, waiting for a
concurrent writer (``busy_timeout``) rather than failing. A plain deferred ``BEGIN`` at
the very start of every transaction would make each transaction that reads and then
writes fail at once ("database is locked", SQLite's stale-snapshot rule in WAL mode)
whenever another connection committed in between; reads before the first write run
on the latest committed data, as they always did. :func:`begin_write` takes the write
lock up front, for a transaction whose decisions rest on what it reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

# Statements that neither write nor manage the transaction: they need no BEGIN. Anything
# else (a CTE included, which may write) opens the transaction first.
_NO_BEGIN = re.compile(
    r"\s*(SELECT|PRAGMA|EXPLAIN|VALUES|BEGIN|COMMIT|END|ROLLBACK|RELEASE)\b", re.IGNORECASE
)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "before_cursor_execute", _sqlite_begin_before_write)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def needs_begin(statement: str) -> bool:
    """Does this SQL statement write (or open a savepoint), so that it must run inside
    an explicit transaction on SQLite?"""
    return _NO_BEGIN.match(statement) is None


def _sqlite_begin_before_write(
    conn: Connection, cursor, statement: str, _parameters, _context, _executemany
) -> None:
    if needs_begin(statement) and not cursor.connection.in_transaction:
        cursor.execute("BEGIN IMMEDIATE")


def begin_write(session: Session) -> None:
    """Make the session's transaction a writer now, before it reads what its writes
    depend on. On SQLite this takes the database's write lock (``BEGIN IMMEDIATE``,
    waiting for another writer to finish), so concurrent read-then-write transactions
    run one after the other and each reads what the previous one committed. Elsewhere
    it does nothing: PostgreSQL serialises writers with row locks and constraints."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLAlchemy, not the driver, decides where a transaction begins (module docstring).
    dbapi_connection.isolation_level = None
    # WAL lets the API read while a worker writes; foreign keys make cascades real.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@lru_cache(maxsize=8)
def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A transaction: committed on success, rolled back on any exception."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
