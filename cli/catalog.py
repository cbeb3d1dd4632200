"""The catalog verbs of ``v2m``: models, ingest, recommend (no HTTP server needed).

They call the same services as the API, on the configured database, so a
catalog built from the shell is the one the API serves.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm import tqdm

from app.db.session import session_scope
from app.media_store import MediaStore
from app.settings import Settings

MEDIA_SUFFIXES = frozenset(
    {
        ".wav",
        ".flac",
        ".mp3",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".aac",
        ".aiff",
        ".aif",
        ".wma",
        ".mp4",
        ".m4v",
        ".mkv",
        ".mov",
        ".webm",
        ".avi",
    }
)


def media_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and media files under folders named (sorted, recursively)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
            )
        else:
            yield path


def read_metadata_csv(path: Path | None) -> dict[str, dict]:
    """``file`` (name or path) -> metadata; ``tags`` are separated by ``;`` or ``|``."""
    if path is None:
        return {}
    table = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = (row.pop("file", None) or row.pop("path", None) or "").strip()
            if not key:
                continue
            tags = row.pop("tags", "") or ""
            meta = {k: v for k, v in row.items() if k and v not in (None, "")}
            meta["tags"] = [t.strip() for t in tags.replace("|", ";").split(";") if t.strip()]
            table[key] = meta
    return table


def ingest_paths(
    settings: Settings, paths: list[Path], metadata_csv: Path | None = None, progress: bool = True
) -> dict[str, int]:
    """Add files to the catalog and ingest them (through the broker when configured)."""
    from app.jobs.queue import make_queue
    from app.jobs.runner import run_job
    from app.services.catalog import TrackMetadata, add_track, check_track_media
    from app.services.models import active_model
    from ml.media.errors import MediaError

    with session_scope(settings.sqlalchemy_url) as db:
        if active_model(db) is None:
            raise SystemExit("no active model: `v2m models register DIR --activate` first")
    table = read_metadata_csv(metadata_csv)
    store = MediaStore(settings.media_dir)
    queue = make_queue(settings) if settings.broker_url else None
    counts = {"ingested": 0, "queued": 0, "duplicates": 0, "rejected": 0, "failed": 0}
    files = list(media_files(paths))
    for path in tqdm(files, desc="ingest", unit="track", disable=not progress):
        meta = TrackMetadata.model_validate(table.get(path.name) or table.get(str(path)) or {})
        try:
            info = check_track_media(path, settings)
        except MediaError as exc:
            counts["rejected"] += 1
            tqdm.write(f"skipped {path}: {exc}", file=sys.stderr)
            continue
        stored = store.put_path(path, settings.max_upload_bytes)
        with session_scope(settings.sqlalchemy_url) as db:
            added = add_track(db, stored, info, meta, path.name)
            job_id = added.job.id if added.created else None
        if job_id is None:
            counts["duplicates"] += 1
        elif queue is not None:
            queue.submit(job_id)
            counts["queued"] += 1
        elif run_job(job_id, settings) == "succeeded":
            counts["ingested"] += 1
        else:
            counts["failed"] += 1
            tqdm.write(f"failed {path}: see `GET /jobs/{job_id}`", file=sys.stderr)
    return counts


def register(settings: Settings, source: Path, activate: bool) -> str:
    from app.services.models import register_model

    with session_scope(settings.sqlalchemy_url) as db:
        row = register_model(db, source, settings.model_dir)
        name, row_id = row.name, row.id
    registered = f"registered model {name} (id {row_id})"
    return f"{registered}; {activate_model_id(settings, row_id)}" if activate else registered


def activate(settings: Settings, name: str) -> str:
    from sqlalchemy import select

    from app.db.models import Model

    with session_scope(settings.sqlalchemy_url) as db:
        row_id = db.scalar(select(Model.id).where(Model.name == name))
    if row_id is None:
        raise SystemExit(f"no model named {name!r}")
    return f"model {name}: {activate_model_id(settings, row_id)}"


def activate_model_id(settings: Settings, model_id: int) -> str:
    """Activate a model as ``POST /models/{id}/activate`` does: at once when every ready
    track has an embedding under it, otherwise through the re-embed job, which embeds
    the missing tracks and then activates it (here, or on a worker with a broker)."""
    from app.db.models import Job, Model
    from app.jobs.kinds import REEMBED
    from app.jobs.queue import make_queue
    from app.jobs.records import new_job
    from app.jobs.runner import run_job
    from app.services.ingest import ready_tracks_without_embedding
    from app.services.models import activate_model

    with session_scope(settings.sqlalchemy_url) as db:
        missing = len(ready_tracks_without_embedding(db, model_id))
        if missing == 0:
            activate_model(db, db.get(Model, model_id))
            return "active"
        job_id = new_job(db, REEMBED, {"model_id": model_id, "activate": True}).id
    if settings.broker_url:
        queue = make_queue(settings)
        queue.submit(job_id)
        queue.close()
        return (
            f"{missing} ready tracks have no embedding under it: job {job_id} embeds "
            "them, then activates it"
        )
    status = run_job(job_id, settings)
    with session_scope(settings.sqlalchemy_url) as db:
        result = db.get(Job, job_id).result or {}
    if status == "succeeded" and result.get("activated"):
        return f"active ({missing} tracks embedded)"
    raise SystemExit(
        f"not activated: re-embedding {missing} tracks ended {status} "
        f"({result.get('failed', '?')} failed); see `GET /jobs/{job_id}`"
    )


def list_models(settings: Settings) -> str:
    from sqlalchemy import select

    from app.db.models import Model

    with session_scope(settings.sqlalchemy_url) as db:
        rows = db.scalars(select(Model).order_by(Model.id)).all()
        return (
            "\n".join(
                f"{'*' if m.active else ' '} {m.id:>3} {m.name:<40} {m.kind:<9} "
                f"seg={m.segmentation or '-':<8} audio={m.audio_extractor} "
                f"video={m.video_extractor} d={m.dim}"
                for m in rows
            )
            or "no models"
        )


def recommend_file(settings: Settings, video: Path, options) -> dict:
    from app.services.models import ServingModels, active_model
    from app.services.recommend import recommend_for_video
    from app.services.search_index import SearchIndexHolder

    with session_scope(settings.sqlalchemy_url) as db:
        row = active_model(db)
        if row is None:
            raise SystemExit("no active model")
        index = SearchIndexHolder(settings.index_dir, settings.index_url).for_model(db, row)
        if len(index.track_ids()) == 0:
            raise SystemExit("the catalog has no ready track: `v2m ingest` some music first")
        model = ServingModels(settings.device).get(row)
        return recommend_for_video(video, db, model, index, options, settings)


def dump_json(body: dict) -> str:
    return json.dumps(body, indent=2)
