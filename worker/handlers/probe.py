"""``probe``: describe a stored media file (container, streams, duration)."""

from __future__ import annotations

import dataclasses

from app.errors import public_message
from app.jobs.kinds import PROBE
from app.jobs.registry import JobContext, JobFailed, handler
from app.media_store import MediaStore
from ml.media.decode import probe
from ml.media.errors import MediaError


@handler(PROBE)
def probe_media(context: JobContext) -> dict:
    store = MediaStore(context.settings.media_dir)
    context.report("probing", 0.1)
    try:
        info = probe(store.path_for(context.params["media_key"]))
    except MediaError as exc:
        raise JobFailed(public_message(exc)) from exc
    return dataclasses.asdict(info)
