"""Dependencies shared by the query routes: the active models and their indexes, query
options, the uploaded query."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError
from app.api.uploads import query_store, upload_dependency
from app.index.catalog import CatalogIndex
from app.index.metadata import AUTO_TAG_MIN
from app.media_store import MediaStore
from app.runtime import Runtime
from app.services import options
from app.services.costs import DEFAULT_METHOD, METHODS
from app.services.model_kind import RECOMMEND, SIMILAR, ServingKind, VideoToMusic
from app.services.models import active_model, active_similarity_model
from app.services.recommend import QueryError, QueryOptions

#: The ranking costs a query may name (an enumeration in the OpenAPI spec).
Method = StrEnum("Method", {name: name for name in METHODS})
#: The hubness corrections a query may name.
Hubness = StrEnum("Hubness", {name: name for name in options.HUBNESS})


@dataclass(frozen=True)
class Serving:
    """The active video-to-music model and its index."""

    model: VideoToMusic
    index: CatalogIndex


def get_serving(runtime: Runtime = Depends(get_runtime), db: Session = Depends(get_db)) -> Serving:
    row = active_model(db)
    if row is None:
        raise ApiError(
            503,
            "no_active_model",
            "no active model: register and activate one (v2m models register)",
        )
    index = runtime.indexes[RECOMMEND].for_model(db, row)
    if len(index.track_ids()) == 0:
        raise ApiError(409, "empty_catalog", "the catalog has no ready track yet")
    return Serving(runtime.models.get(row), index)


@dataclass(frozen=True)
class SimilarityServing:
    """The active similarity model (of any kind) and its index."""

    model: ServingKind
    index: CatalogIndex


def get_similarity_serving(runtime: Runtime, db: Session) -> SimilarityServing | None:
    """The active similarity model and its index (MuSimNet: one vector per track), or
    None without one."""
    row = active_similarity_model(db)
    if row is None:
        return None
    index = runtime.indexes[SIMILAR].for_model(db, row)
    if len(index.track_ids()) == 0:
        raise ApiError(
            409,
            "empty_catalog",
            f"no track has an embedding under the similarity model {row.name} yet: "
            f"POST /models/{row.id}/activate embeds the catalog",
        )
    return SimilarityServing(runtime.models.load(row), index)


def query_options(
    k: Annotated[int, Query(ge=1, le=100, description="results to return")] = 10,
    method: Annotated[Method, Query(description="the ranking cost")] = Method(DEFAULT_METHOD),
    shortlist: Annotated[int, Query(ge=1, le=20000)] = 1000,
    license: Annotated[list[str] | None, Query(description="allowed licences")] = None,
    licence: Annotated[list[str] | None, Query(include_in_schema=False)] = None,
    exclude_artist: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query(description="tags a track must all carry")] = None,
    any_tag: Annotated[list[str] | None, Query(description="a track carries one of these")] = None,
    min_bpm: Annotated[float | None, Query(ge=0)] = None,
    max_bpm: Annotated[float | None, Query(ge=0)] = None,
    min_duration_s: Annotated[float | None, Query(ge=0)] = None,
    boundaries: Annotated[str | None, Query(description="your own cut points, in seconds")] = None,
    min_segment_s: Annotated[float | None, Query(ge=0, le=120)] = None,
    hubness: Annotated[
        Hubness,
        Query(
            description="csls: correct the cost for hubness against the model's reference "
            "videos (tracks near every video stop coming first); none: the raw "
            "cost"
        ),
    ] = Hubness("csls"),
    sync: Annotated[
        bool,
        Query(
            description="fuse training-free evidence into the ranking: how well the video's "
            "cuts fall on each track's beats, at the weight the model fitted on its "
            "validation clips, and how well its picture repeats where the track's music "
            "does, at a fixed weight (false: the learned cost alone)"
        ),
    ] = True,
    vocals: Annotated[
        bool | None,
        Query(
            description="true: only tracks whose automatic tags say there is a voice "
            "(vocals score >= 0.5, docs/api.md); false: only instrumental ones"
        ),
    ] = None,
    auto_tag: Annotated[
        list[str] | None,
        Query(description="automatic tags a track must all carry (comma-separated or repeated)"),
    ] = None,
    auto_tag_min: Annotated[
        float,
        Query(ge=0, le=1, description="the confidence an auto_tag must reach"),
    ] = AUTO_TAG_MIN,
    prefer: Annotated[
        str | None,
        Query(
            description="automatic tags that steer the ranking within the shortlist "
            "(comma-separated, e.g. mellow,acoustic): a bonus of at most half a standard "
            "deviation of the shortlist's ranking values"
        ),
    ] = None,
) -> QueryOptions:
    """The query parameters, as :func:`app.services.options.query_options` reads them."""
    try:
        return options.query_options(
            k=k,
            method=method.value,
            shortlist=shortlist,
            licenses=(license or []) + (licence or []),
            exclude_artists=exclude_artist or (),
            tags=tag or (),
            any_tags=any_tag or (),
            min_bpm=min_bpm,
            max_bpm=max_bpm,
            min_duration_s=min_duration_s,
            boundaries=boundaries,
            min_segment_s=min_segment_s,
            hubness=hubness.value,
            sync=sync,
            vocals=vocals,
            auto_tags=auto_tag,
            auto_tag_min=auto_tag_min,
            prefer=prefer,
        )
    except QueryError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None


def similar_serving(
    runtime: Runtime = Depends(get_runtime), db: Session = Depends(get_db)
) -> Serving | SimilarityServing:
    """The space ``/similar/track`` ranks in: the active similarity model's, else the
    video model's."""
    return get_similarity_serving(runtime, db) or get_serving(runtime, db)


def _query_store(runtime: Runtime) -> MediaStore:
    return query_store(runtime.settings)


#: The uploaded video of a query, staged in the query store; read once the key, the
#: options and the model were checked (list it after ``get_serving``).
query_video = upload_dependency(_query_store, after=query_options)

#: An optional uploaded recording (``/similar/track`` also takes a track id).
reference_audio = upload_dependency(_query_store, required=False, after=query_options)
