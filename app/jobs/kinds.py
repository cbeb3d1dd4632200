"""The kinds of job there are: a fixed list, so recording a job never loads its handler."""

from __future__ import annotations

#: Analyse and embed one catalog track (``{"track_id"}``).
INGEST = "ingest"
#: Embed the whole catalog with another model, then activate it (``{"model_id", "activate"}``).
REEMBED = "reembed"
#: Answer a long video's recommendation request (``{"media_key", "options"}``).
RECOMMEND = "recommend"
#: Describe a stored media file (``{"media_key"}``).
PROBE = "probe"
#: Render a long video's preview of a recommended track (``{"track_id", "video_duration_s",
#: "cuts_s", "start_s", "segmenter"}``; the video in the job's folder).
PREVIEW = "preview"

JOB_KINDS: tuple[str, ...] = (INGEST, REEMBED, RECOMMEND, PROBE, PREVIEW)
