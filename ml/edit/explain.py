"""The picture that explains one result: why this track, and where under the video.

Two panels, drawn with matplotlib's Agg canvas (no display, no global pyplot state, so
safe in a server's threads):

- the segment-similarity matrix, track segments up the side and the video's segments
  along the bottom, each cell as wide and tall as its segment lasts (seconds), with
  the alignment's path (its segment pairs) over it;
- the video's cuts against the track's downbeats, in video time from where the
  excerpt starts in the track: a cut on a downbeat is a hit (the plan's tolerance).

All times are seconds.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["explain_png"]


def explain_png(
    sims: np.ndarray,
    pairs: np.ndarray,
    track_bounds: np.ndarray,
    query_bounds: np.ndarray,
    cuts_s: np.ndarray,
    downbeats_s: np.ndarray,
    excerpt_start_s: float,
    *,
    tolerance_s: float = 0.1,
    title: str = "",
) -> bytes:
    """A PNG of the two panels of the module's docstring.

    Parameters
    ----------
    sims : np.ndarray
        ``(Kc, Kq)`` cosines of the track's and the video's segment embeddings.
    pairs : np.ndarray
        ``(P, 2)`` aligned ``(track_segment, query_segment)`` pairs (may be empty).
    track_bounds, query_bounds : np.ndarray
        ``(Kc + 1,)`` and ``(Kq + 1,)`` segment boundaries (s).
    cuts_s : np.ndarray
        The video's cuts (s, video time).
    downbeats_s : np.ndarray
        The track's downbeats (s, track time).
    excerpt_start_s : float
        Where in the track the video starts (s).

    Raises
    ------
    ValueError
        ``sims`` does not match the boundaries, or a pair lies outside it.
    """
    sims = np.asarray(sims, np.float64)
    track_bounds = np.asarray(track_bounds, np.float64)
    query_bounds = np.asarray(query_bounds, np.float64)
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if sims.shape != (len(track_bounds) - 1, len(query_bounds) - 1):
        raise ValueError(
            f"sims {sims.shape} does not match {len(track_bounds) - 1} track and "
            f"{len(query_bounds) - 1} video segments"
        )
    if len(pairs) and (pairs.min() < 0 or (pairs.max(axis=0) >= sims.shape).any()):
        raise ValueError("an aligned pair lies outside the similarity matrix")
    figure = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    matrix, timeline = figure.subplots(2, 1, height_ratios=(3, 1))
    mesh = matrix.pcolormesh(query_bounds, track_bounds, sims, cmap="viridis", vmin=-1, vmax=1)
    figure.colorbar(mesh, ax=matrix, label="cosine")
    if len(pairs):
        centre_q = (query_bounds[pairs[:, 1]] + query_bounds[pairs[:, 1] + 1]) / 2
        centre_t = (track_bounds[pairs[:, 0]] + track_bounds[pairs[:, 0] + 1]) / 2
        matrix.plot(centre_q, centre_t, "o-", color="white", label="alignment")
        matrix.legend(loc="upper left")
    matrix.set(xlabel="video (s)", ylabel="track (s)", title=title)

    video_end = float(query_bounds[-1])
    beats = np.asarray(downbeats_s, np.float64) - excerpt_start_s
    beats = beats[(beats >= 0) & (beats <= video_end)]
    cuts = np.asarray(cuts_s, np.float64)
    timeline.vlines(beats, 0, 1, color="tab:blue", label="track downbeats")
    hit = np.array(
        [beats.size > 0 and np.min(np.abs(beats - c)) <= tolerance_s for c in cuts], dtype=bool
    )
    for mask, colour, label in ((hit, "tab:green", "cut hit"), (~hit, "tab:red", "cut missed")):
        if mask.any():
            timeline.vlines(cuts[mask], 0.2, 1.2, color=colour, linewidth=3, label=label)
    timeline.set(xlim=(0, video_end), ylim=(0, 1.3), yticks=[], xlabel="video (s)")
    timeline.legend(loc="upper right", ncols=3, fontsize="small")
    out = io.BytesIO()
    FigureCanvasAgg(figure).print_png(out)
    return out.getvalue()
