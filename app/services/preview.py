"""The edit plan and the rendered preview of a catalog track under a video.

The track's downbeats, beats and section boundaries come from its analysis at
ingestion (the active model's music segmenter when it has one, else the newest); the
video's cuts are the user's ``boundaries`` or, without them, its shots. The plan is
:func:`ml.edit.plan.plan_edit`'s; the preview is :func:`ml.edit.render.render_edit`'s.

A result of a query answered a short while ago is previewed from the query cache
(:func:`result_preview`): the plan the answer's hit/miss list describes, under the
video the cache keeps, never uploaded or analysed again. A video longer than
``Settings.preview_async_seconds`` is rendered by a ``preview`` job
(:func:`queue_result_preview`), into a folder of its own under
``data_dir/previews`` kept :data:`PREVIEW_KEEP_S` seconds (:func:`job_preview`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Job, JobStatus, Track, TrackAnalysis, TrackStatus
from app.jobs.kinds import PREVIEW
from app.jobs.records import new_job
from app.media_store import MediaStore
from app.services.cached_results import cached_result
from app.services.model_kind import VideoToMusic
from app.services.models import active_model
from app.services.query_cache import QueryCache
from app.services.recommend import QueryOptions, VideoQuery, plan_in_track, track_analysis
from app.settings import Settings
from ml.edit.plan import EditPlan, TrackStructure, plan_edit
from ml.edit.render import render_edit
from ml.media.decode import probe
from ml.media.shots import detect_shots
from ml.pipeline.video import check_video

#: Seconds a preview job's MP4 is kept after the job was queued.
PREVIEW_KEEP_S = 3600.0


class PreviewError(ValueError):
    """A preview that cannot be made as asked: an unknown or unanalysed track, or one
    with too few downbeats to cut on."""


class NotKeptError(LookupError):
    """A file that was kept for a while is not any more: a cached query's video, or a
    preview job's MP4."""


@dataclass(frozen=True)
class PlannedEdit:
    """A plan and what it was made of: the track's row id and stored file."""

    track_id: int
    track_path: Path
    plan: EditPlan

    def as_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, **self.plan.as_dict()}


def track_structure(db: Session, track_id: int) -> tuple[Track, TrackStructure]:
    """A ready track and its structure from its analysis; :class:`PreviewError` else."""
    track = db.get(Track, track_id)
    if track is None:
        raise PreviewError(f"no track with id {track_id}")
    if track.status != TrackStatus.ready:
        raise PreviewError(f"track {track_id} is not ready (status {track.status.value})")
    model = active_model(db)
    analyses = db.scalars(
        select(TrackAnalysis)
        .where(TrackAnalysis.track_id == track_id)
        .order_by(TrackAnalysis.id.desc())
    ).all()
    chosen = next((a for a in analyses if model and a.segmenter == model.segmentation), None)
    analysis = chosen or (analyses[0] if analyses else None)
    if analysis is None:
        raise PreviewError(f"track {track_id} has no analysis")
    bounds = analysis.boundaries_s().astype(np.float64)
    return track, TrackStructure(
        float(track.duration_s or bounds[-1]),
        analysis.downbeats_s().astype(np.float64),
        analysis.beats_s().astype(np.float64),
        bounds[1:-1],
    )


def video_cuts(
    video: Path, settings: Settings, boundaries_s: Sequence[float] | None = None
) -> tuple[float, np.ndarray]:
    """The video's duration (s) and its cuts ``(n_cuts,)`` (s): ``boundaries_s`` when
    given, else its shot boundaries (without 0 and the end)."""
    info = probe(video)
    check_video(info, settings.min_media_seconds, settings.max_media_seconds)
    if boundaries_s is not None:
        cuts = np.asarray(boundaries_s, dtype=np.float64)
    else:
        cuts = detect_shots(video, device=settings.device)[1:-1]
    return info.duration_s, cuts[(cuts > 0) & (cuts < info.duration_s)]


def plan_for_video(
    db: Session,
    settings: Settings,
    track_id: int,
    video: Path,
    *,
    boundaries_s: Sequence[float] | None = None,
    start_s: float | None = None,
) -> PlannedEdit:
    """The edit plan of a catalog track under a video file; ``start_s`` is where in the
    track the video should start (a recommendation's excerpt), by default anywhere."""
    track, structure = track_structure(db, track_id)
    duration, cuts = video_cuts(video, settings, boundaries_s)
    plan = plan_edit(duration, cuts, structure, anchor_s=start_s)
    path = MediaStore(settings.media_dir).path_for(track.media_key)
    return PlannedEdit(track.id, path, plan)


def render(planned: PlannedEdit, video: Path, out: Path) -> Path:
    """The preview of a plan under ``video``, written to ``out`` (MP4)."""
    return render_edit(video, planned.track_path, planned.plan, out)


@dataclass(frozen=True)
class ResultPreview:
    """What a result's preview is made of: the plan the answer's ``edit`` describes, the
    kept query ``video``, and the plan's inputs (the video's length and cuts in seconds,
    where in the track it starts, the track's analysis) for a job to make it again."""

    planned: PlannedEdit
    video: Path
    video_duration_s: float
    cuts_s: tuple[float, ...]
    start_s: float
    segmenter: str

    def job_params(self) -> dict[str, Any]:
        """The JSON parameters of a ``preview`` job (see :func:`planned_from_params`)."""
        return {
            "track_id": self.planned.track_id,
            "video_duration_s": self.video_duration_s,
            "cuts_s": list(self.cuts_s),
            "start_s": self.start_s,
            "segmenter": self.segmenter,
        }


def result_preview(
    db: Session,
    settings: Settings,
    model: VideoToMusic,
    cache: QueryCache[VideoQuery] | None,
    content_sha256: str,
    track_id: int,
    options: QueryOptions,
) -> ResultPreview:
    """The preview of one result of a cached query (a result's ``preview_url``).

    Raises
    ------
    app.services.cached_results.ResultError
        The query is not cached, the track is unknown or not embedded by the model.
    PreviewError
        The track has too few downbeats for an edit.
    NotKeptError
        The query's analysis is cached but its video is no longer kept.
    """
    result = cached_result(db, model, cache, content_sha256, track_id, options)
    plan = result.placed.plan
    if plan is None:
        raise PreviewError(f"track {track_id} has too few downbeats to cut an edit on")
    video = cache.video(content_sha256) if cache is not None else None
    if video is None:
        raise NotKeptError(
            f"the video of query {content_sha256} is no longer kept: send it again "
            "(POST /recommend/video)"
        )
    analysis = result.query.analysis
    path = MediaStore(settings.media_dir).path_for(result.track.media_key)
    return ResultPreview(
        PlannedEdit(track_id, path, plan),
        video,
        float(analysis.duration_s),
        tuple(float(c) for c in analysis.boundaries_s[1:-1]),
        float(result.placed.synced.excerpt.start_s),
        model.music_segmenter,
    )


def planned_from_params(db: Session, settings: Settings, params: dict[str, Any]) -> PlannedEdit:
    """The plan of :meth:`ResultPreview.job_params`, made again (the same inputs give the
    same plan); :class:`PreviewError` when the track or its edit is gone."""
    track = db.get(Track, int(params["track_id"]))
    if track is None:
        raise PreviewError(f"track {params['track_id']} was deleted")
    plan = plan_in_track(
        track,
        track_analysis(db, track.id, params["segmenter"]),
        float(params["video_duration_s"]),
        params["cuts_s"],
        float(params["start_s"]),
    )
    if plan is None:
        raise PreviewError(f"track {track.id} has no analysis to cut an edit on")
    return PlannedEdit(track.id, MediaStore(settings.media_dir).path_for(track.media_key), plan)


def previews_dir(settings: Settings) -> Path:
    """Where preview jobs keep their files: one folder per job."""
    return settings.data_dir / "previews"


def job_files(settings: Settings, job_id: str) -> tuple[Path, Path]:
    """A preview job's input video and output MP4."""
    folder = previews_dir(settings) / job_id
    return folder / "video", folder / "preview.mp4"


def queue_result_preview(db: Session, settings: Settings, found: ResultPreview) -> Job:
    """Add a ``preview`` job for ``found`` to ``db`` (the caller commits, then submits
    it), with its own copy of the video (the cache may drop its copy before the job
    runs); job folders older than :data:`PREVIEW_KEEP_S` go first."""
    sweep_previews(settings)
    job = new_job(db, PREVIEW, found.job_params(), track_id=found.planned.track_id)
    video, _ = job_files(settings, job.id)
    video.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(found.video, video)
    return job


def render_job_preview(db: Session, settings: Settings, job_id: str, params: dict) -> PlannedEdit:
    """A ``preview`` job's work: the plan made again and rendered into the job's folder
    (its copy of the video removed once done). Raises as :func:`planned_from_params`,
    :class:`NotKeptError` when the job's video is gone, and as :func:`render`."""
    planned = planned_from_params(db, settings, params)
    video, out = job_files(settings, job_id)
    if not video.is_file():
        if out.is_file():  # a redelivered job that had finished its render
            return planned
        raise NotKeptError(f"the video of preview job {job_id} was removed before it ran")
    db.rollback()  # no connection held while FFmpeg runs
    render(planned, video, out)
    video.unlink(missing_ok=True)
    return planned


def job_preview(db: Session, settings: Settings, job_id: str) -> Path:
    """The MP4 of a finished preview job. Raises ``LookupError`` for an unknown job or one
    of another kind, :class:`PreviewError` for one not finished (or failed),
    :class:`NotKeptError` once its file is gone."""
    job = db.get(Job, job_id)
    if job is None or job.kind != PREVIEW:
        raise LookupError(f"no preview job with id {job_id}")
    if job.status is not JobStatus.succeeded:
        state = f"failed: {job.error}" if job.status is JobStatus.failed else job.status.value
        raise PreviewError(f"preview job {job_id} is not done ({state})")
    _, out = job_files(settings, job_id)
    if not out.is_file():
        raise NotKeptError(
            f"the preview of job {job_id} is no longer kept (previews are kept "
            f"{PREVIEW_KEEP_S:.0f} s): ask for the result's preview_url again"
        )
    return out


def sweep_previews(settings: Settings) -> int:
    """Remove the preview jobs' folders older than :data:`PREVIEW_KEEP_S`; how many."""
    root, removed = previews_dir(settings), 0
    oldest = time.time() - PREVIEW_KEEP_S
    for folder in root.glob("*") if root.is_dir() else ():
        try:
            if folder.stat().st_mtime < oldest:
                shutil.rmtree(folder)
                removed += 1
        except OSError:  # removed meanwhile
            continue
    return removed
