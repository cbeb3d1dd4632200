"""The edit: what music to lay under a video, and how.

- :mod:`ml.edit.excerpt`: one excerpt of a track (start on a downbeat, as long as the
  video), moved to the bar where the video's cuts best meet the music.
- :mod:`ml.edit.plan`: an edit decision list: the track's own spans of whole bars, joined
  on downbeats with short crossfades so that section changes and downbeats fall on the
  video's cuts, ending on the track's own ending or a fade over the last bar; which cuts
  are hit and by how much each is missed.
- :mod:`ml.edit.render`: the plan's audio from the track's samples, and the preview (the
  video with that audio, loudness-normalised) through FFmpeg.
"""

from ml.edit.excerpt import (
    SNAP_TOLERANCE_S,
    SYNC_WINDOW_S,
    Excerpt,
    SyncedExcerpt,
    snap_back,
    snap_forward,
    suggest_excerpt,
    synced_excerpt,
)

__all__ = [
    "SNAP_TOLERANCE_S",
    "SYNC_WINDOW_S",
    "Excerpt",
    "SyncedExcerpt",
    "snap_back",
    "snap_forward",
    "suggest_excerpt",
    "synced_excerpt",
]
