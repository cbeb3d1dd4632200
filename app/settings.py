"""Service configuration: one pydantic-settings object read from ``V2M_*`` variables.

The defaults run on a laptop with no services: SQLite and media under ``./var``,
tasks executed in-process, the vector index in memory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SCOPES = ("catalog:write", "recommend", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="V2M_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Root of every file the service writes.")
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite in data_dir.")
    broker_url: str = Field("", description="Celery broker (redis://...); empty = in-process.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    api_keys: str = Field(
        "",
        description="Static keys: 'secret=scope,scope;secret2=scope'. Empty and no key "
        "ever issued in the database (revoked ones count) = open service (a warning is logged).",
    )
    require_api_keys: bool = Field(
        False,
        description="Require keys even with none configured or issued yet (every request "
        "but the probes is then 401 until a key is issued with `v2m keys issue`).",
    )
    max_upload_bytes: int = 512 * 1024**2
    max_media_seconds: float = 30 * 60.0
    min_media_seconds: float = 2.0
    async_video_seconds: float = 300.0
    preview_async_seconds: float = Field(
        60.0,
        gt=0,
        description="A result's preview (GET /recommend/preview.mp4) of a longer video is "
        "rendered by a job: 202 with the job's URL.",
    )
    shortlist: int = 1000
    analysis_slots: int = Field(
        2, ge=1, description="Uploads analysed at once per API process; the others queue."
    )
    request_timeout_s: float = Field(
        300.0, gt=0, description="Longest wait for an analysis slot before a 503 busy."
    )
    inprocess_workers: int = 2
    broker_visibility_timeout_s: int = Field(
        3600, description="An unacknowledged job is redelivered after this long (a worker died)."
    )
    index_url: str = Field(
        "",
        description="Where the catalog index lives: empty = in each process (FAISS); a "
        "path to a .db file = Milvus Lite in that file; http(s)://host:port = a Milvus "
        "server shared by every replica (docs/milvus.md).",
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.expanduser().resolve()

    @field_validator("index_url")
    @classmethod
    def _index_location(cls, url: str) -> str:
        url = url.strip()
        if not url:
            return ""
        if "://" in url:
            parsed = urlsplit(url)
            try:
                port = parsed.port
            except ValueError:
                port = None
            if parsed.scheme in ("http", "https") and parsed.hostname and port:
                return url
        elif url.endswith(".db") and not Path(url).expanduser().is_dir():
            return str(Path(url).expanduser().resolve())
        raise ValueError(
            "V2M_INDEX_URL: expected empty (the index in each process), a Milvus Lite "
            "file path ending in .db, or http(s)://host:port of a Milvus server; "
            f"got {url!r}"
        )

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'v2m.sqlite3'}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def query_video_dir(self) -> Path:
        """Where the query cache keeps the videos of its entries."""
        return self.data_dir / "query-videos"

    def static_api_keys(self) -> dict[str, frozenset[str]]:
        """Parse ``api_keys`` into {secret: scopes}; unknown scopes are an error."""
        keys: dict[str, frozenset[str]] = {}
        for entry in filter(None, (e.strip() for e in self.api_keys.split(";"))):
            secret, _, scopes = entry.partition("=")
            parsed = frozenset(s.strip() for s in scopes.split(",") if s.strip())
            unknown = parsed - set(SCOPES)
            if not secret or not parsed or unknown:
                raise ValueError(
                    f"V2M_API_KEYS: bad entry (unknown scopes {sorted(unknown)})"
                    if unknown
                    else "V2M_API_KEYS: expected 'secret=scope,...'"
                )
            keys[secret.strip()] = parsed
        return keys


@lru_cache
def get_settings() -> Settings:
    return Settings()
