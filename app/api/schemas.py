"""What the HTTP API answers: one pydantic model per response body, the error body,
the error statuses each route documents, and the declared authentication schemes.

Routes name these in their decorators (``response_model=``, ``responses=``), so the
OpenAPI document at ``/openapi.json`` describes the bodies actually served, and
FastAPI checks the dictionaries routes return against them. Field names are the
wire names; models of free metadata or of per-deployment details allow extra keys.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# --- errors -------------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every failure: a stable machine-readable code and a sentence for people."""

    error: str = Field(
        description="a stable code: not_found, unauthorized, forbidden, "
        "invalid_request, invalid_metadata, not_media, too_large, busy, ..."
    )
    detail: str = Field(description="what went wrong, for a person")


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request body could not be read (e.g. malformed multipart).",
    401: "An API key is required, or the key given is unknown or revoked.",
    403: "The API key lacks the scope this route needs.",
    404: "Unknown id.",
    409: "The request conflicts with the service's state: no ready track in the catalog "
    "yet, a track not ready under the active model, or a model of the wrong role.",
    413: "The upload is larger than the configured limit.",
    415: "The upload is not audio or video at all.",
    422: "Invalid parameters or metadata, or media that cannot be used (undecodable, "
    "empty, too short, too long, without the stream needed).",
    503: "No active model, or every analysis slot stayed busy for too long "
    "(`Retry-After` says when to try again).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries of a route's error statuses, all with :class:`ErrorOut`."""
    return {
        status: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


def use_real_error_bodies(spec: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document name the error body actually served, in place.

    FastAPI documents a 422 of its own (``HTTPValidationError``, a list of problems)
    on any route that does not list 422 itself; app.api.errors answers every
    validation failure with :class:`ErrorOut`. Responses are also put in status order.
    """
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    default_422 = "#/components/schemas/HTTPValidationError"
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            body = responses.get("422", {}).get("content", {}).get("application/json", {})
            if body.get("schema", {}).get("$ref") == default_422:
                responses["422"] = {
                    "description": ERROR_DESCRIPTIONS[422],
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                    },
                }
                schemas.setdefault(
                    "ErrorOut",
                    ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}"),
                )
            operation["responses"] = dict(sorted(responses.items()))
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return spec


# Statuses shared by groups of routes.
PROTECTED = (401, 403)  # a route behind require_scope, once keys are configured
UPLOAD = (400, 413, 415, 422)  # a route reading an uploaded file
ANALYSIS = (409, 503)  # a route that needs the active model and its catalog index


# --- authentication ---------------------------------------------------------------
# Declared for the OpenAPI document only (auto_error=False: they never refuse a
# request); require_scope in app.api.security decides who gets in.

api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,
    description="An API key. Scopes: `catalog:write` (upload, delete), `recommend` "
    "(queries), `admin` (everything, the model registry); reading the catalog "
    "and jobs takes `catalog:write` or `recommend`.",
)
bearer_scheme = HTTPBearer(
    scheme_name="Bearer",
    auto_error=False,
    description="The same API key as `Authorization: Bearer <key>`.",
)

# Either scheme is enough: two requirement objects in the operation's ``security``.
DOCUMENTED_AUTH = [Security(api_key_scheme), Security(bearer_scheme)]


# --- health -------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class ReadinessCheck(BaseModel):
    """One dependency. Without an ``admin`` key (when keys are required) only ``ok``."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    detail: str | None = Field(None, description="why it is not ok")


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, ReadinessCheck] = Field(
        description="database, model, broker, index: each with ok and its details"
    )


# --- jobs ---------------------------------------------------------------------------


class JobOut(BaseModel):
    id: str
    kind: str = Field(description="ingest, reembed, recommend, probe or preview")
    status: str = Field(description="queued, running, succeeded or failed")
    stage: str
    progress: float = Field(description="0..1")
    error: str | None
    result: dict[str, Any] | None = Field(
        description="the job's answer once it succeeded (for a recommend job, the same "
        "body as POST /recommend/video; for a preview job, its preview_url and plan)"
    )
    track_id: int | None


class JobAccepted(BaseModel):
    """Work queued in the background: poll ``job_url``."""

    job_id: str
    job_url: str
    status: Literal["queued"]


# --- models -------------------------------------------------------------------------


def _in_utc(moment: datetime) -> datetime:
    # Stored in UTC; SQLite hands it back without its offset, PostgreSQL with it.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_in_utc)]


class ModelOut(BaseModel):
    id: int
    name: str
    kind: str
    segmentation: str
    audio_extractor: str
    video_extractor: str
    dim: int
    checksum: str
    active: bool
    created_at: UtcDatetime
    evaluation: dict[str, float | str] = Field(
        default_factory=dict,
        description="what its training measured on its validation clips: `recipe`, "
        "`val_mean_rank_fraction` (mean rank of the right track as a share of the "
        "validation catalog; chance 0.5), `val_recall_at_1`, `val_recall_at_10`, and "
        "`sync_weight`, the fitted weight of the cuts-on-beats evidence; empty for a "
        "model registered without them",
    )


class Access(BaseModel):
    """What the presented key may do (``GET /access``)."""

    required: bool = Field(description="whether this service needs an API key")
    key: str = Field(description="none (no key sent), valid, or unknown (unknown or revoked)")
    scopes: list[str] = Field(
        description="what the key may do (admin may do everything); every scope on an "
        "open service, none without a valid key"
    )


class ModelList(BaseModel):
    models: list[ModelOut]


# --- catalog ------------------------------------------------------------------------


class TrackOut(BaseModel):
    track_id: int
    title: str
    artist: str
    license: str
    tags: list[str]
    tags_auto: dict[str, float] | None = Field(
        None,
        description="automatic tags (MusiCNN): the 10 most confident, tag -> confidence "
        "in [0, 1], best first; null before the track is tagged",
    )
    extra: dict[str, Any] = Field(description="the metadata's free keys, as uploaded")
    duration_s: float | None
    bpm: float | None
    status: str = Field(description="pending, processing, ready or failed")
    error: str | None
    created_at: str | None = Field(description="ISO 8601")


class TrackPage(BaseModel):
    tracks: list[TrackOut]
    total: int = Field(description="tracks matching the filters, over all pages")
    limit: int
    offset: int


class IngestAccepted(BaseModel):
    """202: a new track and its ingest job. 200: this content is already in the catalog
    (``duplicate``), the existing track and its latest job are returned."""

    track_id: int
    job_id: str | None
    job_url: str | None
    status: str = Field(description="queued, or the existing track's status")
    duplicate: bool


class TrackDeleted(BaseModel):
    track_id: int
    deleted: bool


# --- recommendations ----------------------------------------------------------------


class AlignedPair(BaseModel):
    """A track segment matched with a video segment, with both in seconds."""

    track_segment: int
    query_segment: int
    track_start_s: float
    track_end_s: float
    query_start_s: float
    query_end_s: float


class Alignment(BaseModel):
    method: str | None = Field(None, description="the cost that aligned them")
    pairs: list[AlignedPair]
    offset: int | None = Field(
        None, description="trace costs: the track segment aligned with video segment 0"
    )
    track_span: list[int] | None = Field(None, description="half-open segment range")
    query_span: list[int] | None = Field(None, description="half-open segment range")


class Excerpt(BaseModel):
    """Where in the track the music for the video should start and end."""

    start_s: float
    end_s: float
    duration_s: float
    snapped_to_downbeats: bool
    covers_video: bool


class Sync(BaseModel):
    """How the video's cuts meet the track's music at the excerpt (docs/method.md §9)."""

    score: float | None = Field(
        None,
        description="co-occurrence S of cuts and downbeats, 0..1 (1: a cut on every "
        "downbeat inside the video); null without cuts or downbeats",
    )
    events: list[str] = Field(
        description="each section change and downbeat inside the video, "
        "with the nearest cut, in video time"
    )


class EditCut(BaseModel):
    """One cut of the video and the nearest downbeat of the edited music."""

    cut_s: float = Field(description="the cut, in video time (s)")
    hit: bool = Field(description="a downbeat of the edit lies within tolerance_ms of it")
    miss_ms: int = Field(
        description="that downbeat's time minus the cut's (ms; negative: the downbeat first)"
    )


class EditSummary(BaseModel):
    """The edit plan's hit/miss list: the plan ``POST /edit/plan`` makes for this video's
    cuts with the excerpt's start as ``start_s`` (so ``POST /preview`` renders it)."""

    cuts_hit: int
    tolerance_ms: int
    cuts: list[EditCut]


class TrackFields(BaseModel):
    track_id: int
    rank: int = Field(description="1 for the best")
    score: float = Field(description="higher is better; comparable within one method")
    title: str
    artist: str
    license: str
    tags: list[str]
    tags_auto: dict[str, float] | None = Field(
        None,
        description="automatic tags (MusiCNN): the 10 most confident, tag -> confidence "
        "in [0, 1], best first; null before the track is tagged",
    )
    bpm: float | None
    duration_s: float | None


class Recommendation(TrackFields):
    distance: float = Field(description="the method's cost (lower is better)")
    match: float | None = Field(
        None,
        description="0-100: the share of the model's reference videos (its training "
        "clips) that fit this track worse than the query; null for a model "
        "exported without them",
    )
    alignment: Alignment
    excerpt: Excerpt
    sync: Sync
    edit: EditSummary | None = Field(
        None,
        description="which of the video's cuts the edit hits; null when the track's "
        "analysis has too few downbeats to cut on",
    )
    explain_url: str | None = Field(
        None,
        description="the alignment picture of this result (GET /recommend/explain.png), "
        "served while the query stays cached; null when it is not kept (a job's answer)",
    )
    preview_url: str | None = Field(
        None,
        description="the video with this track edited under it (GET "
        "/recommend/preview.mp4: an MP4, or 202 and a job for a long video), served while "
        "the query and its video stay cached; null when they are not kept or there is no edit",
    )


class Segment(BaseModel):
    start_s: float
    end_s: float


class VideoQueryOut(BaseModel):
    duration_s: float
    segmentation: str = Field(description="shots, or user (the boundaries given)")
    reused: bool = Field(
        description="the video was analysed for an earlier request (same file, model and "
        "cut options) and not decoded again"
    )
    content_sha256: str | None = Field(
        None,
        description="SHA-256 of the uploaded file: the query parameter of "
        "GET /recommend/explain.png (null for a job's answer)",
    )
    segments: list[Segment]


class RecommendationList(BaseModel):
    results: list[Recommendation]
    query: VideoQueryOut
    method: str
    k: int
    shortlist: int
    hubness: str = Field(description="csls: ranked with the hubness correction; none: without")
    sync_weight: float = Field(
        description="weight of the cuts-on-beats evidence in the ranking (0: not used)"
    )
    structure_weight: float = Field(
        0.0,
        description="weight of the structure agreement (the picture repeating where the "
        "music does) in the ranking (0: not used)",
    )
    model: str
    catalog_size: int
    timings_s: dict[str, float] = Field(description="seconds per stage, and total")


class SimilarTrack(TrackFields):
    pass


class SimilarList(BaseModel):
    results: list[SimilarTrack]
    method: str
    k: int
    model: str
    space: str = Field(description="musimnet (the similarity model) or music_branch")
    query_track_id: int | None = Field(description="the catalog track asked about, if any")
    timings_s: dict[str, float]


# --- the edit plan and the preview ----------------------------------------------------


class EditSpanOut(BaseModel):
    """A span of the track (``track_start_s..track_end_s``) under the same length of the
    video (``video_start_s..video_end_s``)."""

    video_start_s: float
    video_end_s: float
    track_start_s: float
    track_end_s: float


class CutHitOut(BaseModel):
    """A cut and the downbeat of the edited music nearest to it: ``miss_s`` is that
    downbeat's time minus the cut's; ``hit`` within ``tolerance_s``; ``section`` when a
    section of the track starts there, ``join`` when two spans are joined there."""

    cut_s: float
    miss_s: float
    hit: bool
    section: bool
    join: bool


class EditPlanOut(BaseModel):
    """The track's own spans of whole bars laid under the whole video, joined on downbeats
    with a crossfade of ``crossfade_s``; ``ending`` is ``track`` (its own ending) or
    ``fade`` (from ``fade_start_s``). Times in seconds (docs/method.md)."""

    track_id: int
    video_duration_s: float
    spans: list[EditSpanOut]
    joins_s: list[float]
    crossfade_s: float
    lead_in_s: float
    ending: str
    fade_start_s: float
    tolerance_s: float
    cuts_hit: int
    cuts: list[CutHitOut]


# -- POST /similar/section ------------------------------------------------------------


class SectionMatch(TrackFields):
    """A span of a catalog track that matches the query's span (``score``: the
    segments' local alignment score)."""

    start_s: float = Field(description="where the matching span starts in this track (s)")
    end_s: float = Field(description="where it ends (s)")
    query_start_s: float = Field(description="the part of the query it matches: start (s)")
    query_end_s: float = Field(description="and end (s), in the query's time")
    similarity: float | None = Field(
        description="mean cosine of the matched bar windows; null for a segment-level span"
    )
    on_downbeats: bool = Field(
        description="the span was placed on the track's bars (its ends are downbeats, or "
        "the track's end); false: the segments of the local alignment"
    )


class SectionQueryOut(BaseModel):
    track_id: int | None = Field(description="the catalog track the span is from, if any")
    start_s: float
    end_s: float


class SectionList(BaseModel):
    results: list[SectionMatch]
    query: SectionQueryOut
    method: str = Field(description="the local alignment that ranks the catalog (sw_dtw)")
    k: int
    model: str
    space: str = Field(description="music_branch: the video-to-music model's")
    timings_s: dict[str, float]
