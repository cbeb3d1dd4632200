"""``preview``: render a long video's preview of a recommended track in the background."""

from __future__ import annotations

from app.errors import public_message
from app.jobs.kinds import PREVIEW
from app.jobs.registry import JobContext, JobFailed, handler
from app.services.preview import NotKeptError, PreviewError, render_job_preview
from ml.edit.render import RenderError
from ml.media.errors import MediaError


@handler(PREVIEW)
def render_preview(context: JobContext) -> dict:
    context.report("rendering", 0.1)
    try:
        with context.sessions() as db:
            planned = render_job_preview(db, context.settings, context.job_id, context.params)
    except (PreviewError, NotKeptError, RenderError) as exc:
        raise JobFailed(str(exc)) from exc
    except MediaError as exc:
        raise JobFailed(public_message(exc)) from exc
    return {
        "track_id": planned.track_id,
        "preview_url": f"/jobs/{context.job_id}/preview.mp4",
        "plan": planned.plan.as_dict(),
    }
