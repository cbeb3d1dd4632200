"""Plain-text rendering of recommendation results for the command line."""

from __future__ import annotations

from typing import Any


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(float(seconds), 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


def results_table(body: dict[str, Any], highlight_track: int | None = None) -> str:
    """A ranked table: rank, score, match (0-100), title, artist, tempo, excerpt and how
    it aligns."""
    header = (
        f"{'#':>3}  {'score':>8}  {'match':>5}  {'title':<34} {'artist':<18} {'bpm':>5}  "
        f"{'excerpt':<17} aligned segments"
    )
    lines = [header, "-" * len(header)]
    for result in body["results"]:
        excerpt = result.get("excerpt") or {}
        pairs = (result.get("alignment") or {}).get("pairs") or []
        aligned = ", ".join(f"q{p['query_segment']}->t{p['track_segment']}" for p in pairs[:4])
        aligned += " ..." if len(pairs) > 4 else ""
        marker = " <== its own soundtrack" if result["track_id"] == highlight_track else ""
        bpm = f"{result['bpm']:.0f}" if result.get("bpm") else "-"
        match = f"{result['match']:.0f}" if result.get("match") is not None else "-"
        span = (
            f"{_clock(excerpt.get('start_s'))}-{_clock(excerpt.get('end_s'))}" if excerpt else "-"
        )
        lines.append(
            f"{result['rank']:>3}  {result['score']:>8.4f}  {match:>5}  {result['title'][:34]:<34} "
            f"{result['artist'][:18]:<18} {bpm:>5}  {span:<17} {aligned}{marker}"
        )
    timings = body.get("timings_s") or {}
    if timings:
        lines.append("")
        lines.append("timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in timings.items()))
    return "\n".join(lines)
