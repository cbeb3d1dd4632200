"""``ingest``: analyse and embed one catalog track with the active model (and with the
active model of every other role, the similarity model MuSimNet, when there is one:
same decoded audio, same transaction).

However it fails (bad media, a model that does not load, a bug, a database error),
the track ends ``failed`` with the reason and the job ``failed`` with the same one:
never ``processing`` for good. Its results are written in one transaction, so a
failure leaves nothing of them behind; a later upload of the same file retries.

Once that transaction has made the track ready, the change is published
(:func:`app.services.search_index.publish_changes`: written to the shared Milvus
collection when there is one, then announced). A job redelivered after that commit
publishes again, which changes nothing when the first publish went through.
"""

from __future__ import annotations

from functools import lru_cache

from app.db.models import Track, TrackStatus
from app.errors import public_message
from app.jobs.kinds import INGEST
from app.jobs.registry import JobContext, JobFailed, handler, internal_error
from app.media_store import MediaStore
from app.services.ingest import embed_track_file, is_ingested, save_embedded_track
from app.services.model_kind import SIMILAR
from app.services.models import ServingModels, active_model, active_models
from app.services.search_index import publish_changes
from ml.media.errors import MediaError


@lru_cache(maxsize=4)
def serving_models(device: str) -> ServingModels:
    """One cache of loaded ONNX sessions per worker process."""
    return ServingModels(device)


@handler(INGEST)
def ingest_track(context: JobContext) -> dict:
    track_id = int(context.params["track_id"])
    try:
        return _ingest(context, track_id)
    except JobFailed as exc:
        _mark_failed(context, track_id, str(exc))
        raise
    except MediaError as exc:
        _mark_failed(context, track_id, public_message(exc))
        raise JobFailed(public_message(exc)) from exc
    except Exception as exc:
        _mark_failed(context, track_id, internal_error(exc))
        raise  # the job runner logs the traceback and fails the job with the same text


def _mark_failed(context: JobContext, track_id: int, error: str) -> None:
    """The track this job was ingesting failed (a ready track keeps its earlier state)."""
    with context.sessions.begin() as db:
        track = db.get(Track, track_id)
        if track is not None and track.status is not TrackStatus.ready:
            track.status, track.error = TrackStatus.failed, error


def _ingest(context: JobContext, track_id: int) -> dict:
    with context.sessions.begin() as db:
        track = db.get(Track, track_id)
        if track is None:
            raise JobFailed(f"track {track_id} was deleted before it could be ingested")
        model_row = active_model(db)
        if model_row is None:
            raise JobFailed("no active model: register and activate one, then retry")
        rows = active_models(db)
        model_ids, name = [row.id for row in rows], model_row.name
        done = is_ingested(db, track, model_row.id)
        if not done:
            track.status = TrackStatus.processing
            media_key = track.media_key
            models = serving_models(context.settings.device)
            model = models.get(model_row)
            others = [models.load(row) for row in rows if row.id != model_row.id]
    if done:  # redelivered after its commit: the publish may not have happened
        _publish(context, model_ids)
        return {"track_id": track_id, "model": name, "already_ingested": True}
    path = MediaStore(context.settings.media_dir).path_for(media_key)
    result = embed_track_file(path, model, context.report, others)
    context.report("saving", 0.95)
    with context.sessions.begin() as db:
        track = db.get(Track, track_id)
        if track is None:
            return {"track_id": track_id, "deleted_during_ingest": True}
        save_embedded_track(db, track, model, result)
    _publish(context, model_ids)
    analysis = result.analysis
    return {
        "track_id": track_id,
        "model": model.name,
        "segments": int(result.embeddings.shape[0]),
        "duration_s": round(float(analysis.duration_s), 3),
        "tempo_bpm": analysis.beats.tempo_bpm,
        "segmenter": model.music_segmenter,
        "similarity_model": next((m.name for m in others if m.role == SIMILAR), None),
    }


def _publish(context: JobContext, model_ids: list[int]) -> None:
    """The track is ready in every active model's index: published to them now."""
    with context.sessions() as db:
        publish_changes(context.settings, db, model_ids)
