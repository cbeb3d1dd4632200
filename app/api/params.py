"""Parameter types shared by routes: ids, and offsets into listings.

Row ids are 64-bit signed integers in both databases (BIGINT on PostgreSQL, INTEGER on
SQLite). A number outside 1 .. 2**63 - 1 names no row and cannot even be sent to the
database (the drivers raise an overflow error), so every route that takes an id takes
it through these types: anything else is a 422 with the JSON error body. Job ids are
text (UUIDs); one with other characters (a NUL, which PostgreSQL refuses in text)
names no job and is a 422 too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

#: The largest value of a 64-bit signed integer column: the largest possible row id.
MAX_ID = 2**63 - 1

#: A row id in the URL path (``/catalog/tracks/{track_id}``).
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="an id, 1 .. 2**63 - 1")]

#: An optional row id in the query string (``?track_id=``).
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="an id, 1 .. 2**63 - 1")]

#: A job id in the URL path (``/jobs/{job_id}``): letters, digits, ``-`` and ``_``.
JobIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="a job id, as returned by the route that queued it",
    ),
]

#: How many rows of a listing to skip.
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")]
