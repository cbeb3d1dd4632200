"""The same Alembic migrations create and remove the schema on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.db.models import Base
from app.migrate import downgrade, upgrade

TABLES = {
    "tracks",
    "track_analyses",
    "track_features",
    "models",
    "track_embeddings",
    "index_changes",
    "jobs",
    "api_keys",
}


def test_upgrade_then_downgrade(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        downgrade(database_url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(database_url)  # and back again: nothing left behind by the downgrade
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_match_migrations(database_url: str) -> None:
    """A model change without a migration fails here."""
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
