"""The edit plan and the rendered preview of a catalog track under a video.

The track's downbeats, beats and section boundaries come from its analysis at
ingestion (the active model's music segmenter when it has one, else the newest); the
video's cuts are the user's ``boundaries`` or, without them, its shots. The plan is
:func:`ml.edit.plan.plan_edit`'s; the preview is :func:`ml.edit.render.render_edit`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Track, TrackAnalysis, TrackStatus
from app.media_store import MediaStore
from app.services.models import active_model
from app.settings import Settings
from ml.edit.plan import EditPlan, TrackStructure, plan_edit
from ml.edit.render import render_edit
from ml.media.decode import probe
from ml.media.shots import detect_shots
from ml.pipeline.video import check_video


class PreviewError(ValueError):
    """A preview that cannot be made as asked: an unknown or unanalysed track."""


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
