"""``recommend``: answer a long video's recommendation request in the background."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from app.errors import public_message
from app.jobs.kinds import RECOMMEND
from app.jobs.registry import JobContext, JobFailed, handler
from app.media_store import MediaStore
from app.services.models import active_model
from app.services.recommend import options_from_params, recommend_for_video
from app.services.search_index import SearchIndexHolder
from ml.media.errors import MediaError
from worker.handlers.ingest import serving_models


@lru_cache(maxsize=2)
def index_holder(index_dir: Path, index_url: str) -> SearchIndexHolder:
    """This worker process's index: its own copy (loaded from the snapshot, then replayed),
    or the shared Milvus collection when ``index_url`` names one."""
    return SearchIndexHolder(index_dir, index_url)


@handler(RECOMMEND)
def recommend_long_video(context: JobContext) -> dict:
    store = MediaStore(context.settings.data_dir / "queries")
    path = store.path_for(context.params["media_key"])
    try:
        with context.sessions() as db:
            model_row = active_model(db)
            if model_row is None:
                raise JobFailed("no active model")
            model = serving_models(context.settings.device).get(model_row)
            context.report("indexing", 0.05)
            holder = index_holder(context.settings.index_dir, context.settings.index_url)
            index = holder.for_model(db, model_row)
            context.report("analysing", 0.1)
            return recommend_for_video(
                path,
                db,
                model,
                index,
                options_from_params(context.params["options"]),
                context.settings,
            )
    except MediaError as exc:
        raise JobFailed(public_message(exc)) from exc
    finally:
        store.delete(context.params["media_key"])
