"""Response models of ``POST /similar/section`` (beside :mod:`app.api.schemas`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SectionMatch(BaseModel):
    """A span of a catalog track that matches the query's span."""

    track_id: int
    rank: int = Field(description="1 for the best")
    score: float = Field(description="higher is better: the segments' local alignment score")
    title: str
    artist: str
    license: str
    tags: list[str]
    tags_auto: dict[str, float] | None = None
    bpm: float | None
    duration_s: float | None
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
