"""The plan's audio, and the preview: the video with that audio, through FFmpeg.

:func:`edited_audio` assembles the plan from the track's samples: each span is copied
from the track, the spans overlap by the plan's crossfade, centred on each join (the
outgoing span plays half a crossfade past its end, the incoming one starts half a
crossfade before its downbeat, with equal-power ramps), and the music fades out from
the plan's ``fade_start_s`` to the video's end.

:func:`render_preview` muxes the video with that audio into an MP4: the audio is
loudness-normalised to :data:`LOUDNESS_LUFS` (FFmpeg's ``loudnorm`` in two passes, the
second linear: one gain for the whole preview) and encoded as AAC; the video stream is
copied when MP4 can hold its codec, else encoded with H.264. The video is read as the
rest of the service reads user files: the ``file`` protocol only, and only the
demuxers of :data:`ml.media.decode.ALLOWED_CONTAINERS`. The output is written under a
temporary name and renamed when FFmpeg succeeds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np

from ml.edit.plan import EditPlan
from ml.media.decode import ALLOWED_CONTAINERS, load_audio, probe
from ml.media.errors import NoVideoStreamError

FFMPEG = "ffmpeg"
#: Integrated loudness of the preview's audio (LUFS, EBU R128), its true-peak ceiling
#: (dBTP) and loudness range (LU), as streaming platforms normalise.
LOUDNESS_LUFS = -16.0
TRUE_PEAK_DB = -1.5
LOUDNESS_RANGE_LU = 11.0
#: Video codecs that an MP4 holds as they are (copied, not re-encoded).
MP4_VIDEO_CODECS = frozenset({"h264", "hevc", "mpeg4", "av1"})
#: Time limit for each FFmpeg run (s).
RENDER_TIMEOUT_S = 600.0
#: Sample rate of the preview's audio (Hz).
PREVIEW_SR = 48000


class RenderError(RuntimeError):
    """FFmpeg could not render the preview (its message says why)."""


def edited_audio(plan: EditPlan, track: np.ndarray, sr: int) -> np.ndarray:
    """The plan's music, ``(round(video_duration_s * sr),)`` float32 samples at ``sr``.

    Parameters
    ----------
    plan : EditPlan
        The spans, crossfade and fade of the edit.
    track : np.ndarray
        ``(n_samples,)`` the track's mono samples at ``sr`` (the plan's track times index
        it; samples past either end read as silence).
    sr : int
        Sample rate (Hz).
    """
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr!r}")
    track = np.asarray(track, dtype=np.float32)
    if track.ndim != 1 or track.size == 0:
        raise ValueError(f"the track must be a non-empty 1-D array, got shape {track.shape}")
    n_out = int(round(plan.video_duration_s * sr))
    out = np.zeros(n_out, dtype=np.float32)
    half = 0.5 * plan.crossfade_s
    ramp = int(round(plan.crossfade_s * sr))
    last = len(plan.spans) - 1
    for i, span in enumerate(plan.spans):
        pre = half if i > 0 else 0.0
        post = half if i < last else 0.0
        a = int(round((span.video_start_s - pre) * sr))
        b = min(int(round((span.video_end_s + post) * sr)), n_out)
        src = int(round((span.track_start_s - pre) * sr))
        piece = _take(track, src, b - a)
        if pre and ramp:
            piece[:ramp] *= np.sin(0.5 * np.pi * np.linspace(0.0, 1.0, ramp))
        if post and ramp:
            piece[-ramp:] *= np.cos(0.5 * np.pi * np.linspace(0.0, 1.0, ramp))
        out[a:b] += piece
    fade_from = int(round(plan.fade_start_s * sr))
    if fade_from < n_out:
        out[fade_from:] *= np.linspace(1.0, 0.0, n_out - fade_from, dtype=np.float32)
    return out


def _take(track: np.ndarray, start: int, length: int) -> np.ndarray:
    """``length`` samples of ``track`` from ``start``, zeros outside it (a copy)."""
    piece = np.zeros(length, dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, track.size)
    if hi > lo:
        piece[lo - start : hi - start] = track[lo:hi]
    return piece


def render_preview(
    video: str | os.PathLike[str],
    audio: np.ndarray,
    sr: int,
    out: str | os.PathLike[str],
    *,
    loudness_lufs: float = LOUDNESS_LUFS,
    timeout_s: float = RENDER_TIMEOUT_S,
) -> Path:
    """Write ``out`` (MP4): the first video stream of ``video`` with ``audio`` (mono
    float samples at ``sr`` Hz, as long as the video) loudness-normalised to
    ``loudness_lufs``, as AAC at :data:`PREVIEW_SR`. Returns ``out``.

    Raises
    ------
    MediaError
        ``video`` is not a video file (from :func:`ml.media.decode.probe`), or has no
        video stream (:class:`NoVideoStreamError`).
    ValueError
        ``audio`` is not finite mono samples, or ``sr`` is not positive.
    RenderError
        FFmpeg failed or ran past ``timeout_s``.
    """
    info = probe(video)
    if not info.has_video:
        raise NoVideoStreamError(f"{Path(video).name} has no video stream", path=str(video))
    samples = np.asarray(audio, dtype="<f4")
    if sr <= 0 or samples.ndim != 1 or samples.size == 0 or not np.all(np.isfinite(samples)):
        raise ValueError("audio must be finite mono samples at a positive sample rate")
    raw = np.ascontiguousarray(samples).tobytes()
    pcm = ["-f", "f32le", "-ar", str(int(sr)), "-ac", "1"]
    measured = _measure_loudness(raw, pcm, loudness_lufs, timeout_s)
    copy = info.video_codec in MP4_VIDEO_CODECS
    video_codec = (
        ["-c:v", "copy"]
        if copy
        else ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
    )
    out = Path(out)
    partial = out.with_name(f".{out.stem}.partial{out.suffix or '.mp4'}")
    cmd = [
        FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-protocol_whitelist", "file",
        "-format_whitelist", ",".join(sorted(ALLOWED_CONTAINERS)),
        "-i", "file:" + os.path.abspath(os.fspath(video)),
        *pcm, "-i", "pipe:0",
        "-map", "0:v:0", "-map", "1:a:0", *video_codec,
        "-af", _loudnorm(loudness_lufs, measured), "-ar", str(PREVIEW_SR),
        "-c:a", "aac", "-b:a", "192k",
        "-movflags", "+faststart", "-f", "mp4", str(partial),
    ]  # fmt: skip
    try:
        _ffmpeg(cmd, raw, timeout_s)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def render_edit(
    video: str | os.PathLike[str],
    track: str | os.PathLike[str],
    plan: EditPlan,
    out: str | os.PathLike[str],
    *,
    sr: int = 44100,
    loudness_lufs: float = LOUDNESS_LUFS,
) -> Path:
    """Decode ``track`` (mono at ``sr`` Hz), assemble ``plan``'s audio from it
    (:func:`edited_audio`) and write it under ``video`` to ``out``
    (:func:`render_preview`). Raises as those do, and
    :class:`~ml.media.errors.MediaError` when the track cannot be decoded."""
    samples = load_audio(track, sr=sr, max_duration_s=None)
    return render_preview(
        video, edited_audio(plan, samples, sr), sr, out, loudness_lufs=loudness_lufs
    )


def _measure_loudness(
    raw: bytes, pcm: list[str], target: float, timeout_s: float
) -> dict[str, str] | None:
    """``loudnorm``'s first pass over the samples: its measurements, or None for audio
    too quiet to measure (silence is left as it is)."""
    cmd = [
        FFMPEG, "-nostdin", "-hide_banner", *pcm, "-i", "pipe:0",
        "-af", f"loudnorm=I={target}:TP={TRUE_PEAK_DB}:LRA={LOUDNESS_RANGE_LU}:print_format=json",
        "-f", "null", "-",
    ]  # fmt: skip
    report = _ffmpeg(cmd, raw, timeout_s)
    found = re.findall(r"\{[^{}]*\}", report)
    if not found:
        raise RenderError("FFmpeg's loudness measurement printed no result")
    values = json.loads(found[-1])
    try:
        quiet = float(values["input_i"]) < -70.0
    except ValueError:  # "-inf"
        quiet = True
    return None if quiet else values


def _loudnorm(target: float, measured: dict[str, str] | None) -> str:
    """The second pass: one linear gain to ``target`` from the measurements."""
    if measured is None:
        return "anull"
    return (
        f"loudnorm=I={target}:TP={TRUE_PEAK_DB}:LRA={LOUDNESS_RANGE_LU}"
        f":measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
        f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
        f":offset={measured['target_offset']}:linear=true:print_format=none"
    )


def _ffmpeg(cmd: list[str], stdin: bytes, timeout_s: float) -> str:
    """Run FFmpeg on ``stdin``; its log (stderr) as text, or :class:`RenderError`."""
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout_s)
    except FileNotFoundError:
        raise RenderError(
            "ffmpeg must be installed (Debian/Ubuntu: apt-get install ffmpeg)"
        ) from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"ffmpeg did not finish the preview within {timeout_s:.0f} s") from None
    log = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise RenderError(f"ffmpeg failed rendering the preview: {log.strip()[-500:]}")
    return log
