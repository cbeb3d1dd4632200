"""``reembed``: embed the whole catalog with another model, then (optionally) activate it.

The active model of the same role keeps serving while this runs; each track is
written in its own transaction, and the switch happens only once every ready track
has an embedding under the new model, so a search never sees a half-embedded
catalog.

How a track is embedded is its kind's
(:meth:`~app.services.model_kind.ServingKind.catalog_embedder`):

- a video-to-music model (Seg-VM-Net, VM-Net) reuses the cached 1 Hz features and
  segmentations when its extractor and music segmenter match; otherwise the track is
  analysed again;
- a similarity model (MuSimNet) decodes each track's audio and embeds it (the CQT is
  not cached: it is as cheap to recompute as to store). The video-to-music model stays
  active throughout and after.

Tracks ingested before automatic tags were stored are tagged first
(:func:`app.services.auto_tags.tag_catalog_track`: the stored media decoded and run
through MusiCNN), whatever the model.
"""

from __future__ import annotations

from collections import Counter

from app.db.models import Model
from app.jobs.kinds import REEMBED
from app.jobs.registry import JobContext, JobFailed, handler
from app.media_store import MediaStore
from app.services.auto_tags import tag_catalog_track, untagged_ready_tracks
from app.services.ingest import ready_tracks_without_embedding
from app.services.models import activate_model, active_models
from app.services.search_index import publish_changes
from worker.handlers.ingest import serving_models


@handler(REEMBED)
def reembed_catalog(context: JobContext) -> dict:
    model_id = int(context.params["model_id"])
    store = MediaStore(context.settings.media_dir)
    models = serving_models(context.settings.device)
    with context.sessions() as db:
        row = db.get(Model, model_id)
        if row is None:
            raise JobFailed(f"model {model_id} does not exist")
        # How a track is embedded is the model kind's (its serving class says).
        embed = models.load(row).catalog_embedder(context.sessions, store)
        todo = ready_tracks_without_embedding(db, model_id)
    # Tags first: a track's embedding under this model then goes into the index with its
    # tags, in one logged change, and the models that already hold it get one change each.
    with context.sessions() as db:
        untagged = untagged_ready_tracks(db)
    tagged: Counter[str | None] = Counter()
    for done, track_id in enumerate(untagged):
        context.report("tagging", done / max(len(untagged), 1))
        tagged[tag_catalog_track(context.sessions, store, track_id)] += 1
    outcomes: Counter[str | None] = Counter()
    for done, track_id in enumerate(todo):
        context.report("embedding", done / max(len(todo), 1))
        outcomes[embed(track_id)] += 1
    activated = bool(context.params.get("activate")) and outcomes["failed"] == 0
    if activated:
        with context.sessions.begin() as db:
            activate_model(db, db.get(Model, model_id))
    # The new model's collection (when the index is in Milvus) is filled now, and the
    # active models' get the retagged tracks.
    with context.sessions() as db:
        models = {model_id, *(row.id for row in active_models(db))}
        publish_changes(context.settings, db, models)
    return {
        "model_id": model_id,
        "tracks": len(todo),
        "from_cache": outcomes["from_cache"],
        "analysed": outcomes["analysed"],
        "failed": outcomes["failed"],
        "tagged": tagged["tagged"],
        "tagging_failed": tagged["failed"],
        "activated": activated,
    }
