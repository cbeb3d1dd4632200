"""Storage: SQLAlchemy models and sessions (Postgres in deployment, SQLite embedded)."""
