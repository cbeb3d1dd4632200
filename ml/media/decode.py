"""Probe and decode media files through ffprobe / ffmpeg subprocesses.

Design choices, and why:

* **Subprocesses, never a shell.** Arguments are passed as a list, so a file
  name can hold spaces, quotes, newlines or shell syntax. Input paths are given
  as ``file:<absolute path>`` so that a name starting with ``-`` is not read as
  an option and a name containing ``:`` is not read as a protocol, and only the
  ``file`` protocol is allowed, so a crafted playlist cannot make ffmpeg open
  network URLs.
* **Only the file itself, only real containers.** The ``file`` protocol alone
  would still let a playlist (HLS, ffconcat, DASH) or an image-sequence name
  (``img%03d.png``) make ffmpeg read *other* local files. Three guards keep it
  to the one file: its first bytes are checked for playlist markers before
  ffmpeg sees it; every ffprobe / ffmpeg call gets a ``-format_whitelist`` of
  real audio/video demuxers (:data:`ALLOWED_CONTAINERS`), so ffmpeg refuses any
  other demuxer before it reads past the file's header (``image2``, which
  expands name patterns, is not on it); and the probed ``format_name`` is
  checked against the same list.
* **Straight to the array.** Audio is decoded to 32-bit float PCM
  (``f32le``) and video to ``rgb24`` raw frames on a pipe; resampling, down-mixing
  and scaling happen inside ffmpeg. No temporary files.
* **Every call has a time limit.** A hostile or pathological file cannot hang a
  worker; the limit covers probing and decoding together.
* **Precise errors.** Every way a file can be unusable maps to one subclass of
  :class:`~ml.media.errors.MediaError` (see that module), decided from the
  probe, from the decoded data and, as a last resort, from ffmpeg's messages.

Conventions: times are in seconds; audio is mono ``float32`` in [-1, 1];
frames are ``uint8`` arrays of shape ``(n_frames, height, width, 3)`` in RGB.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ml.media.errors import (
    CorruptMediaError,
    DecodeTimeoutError,
    EmptyFileError,
    FFmpegNotFoundError,
    MediaTooLongError,
    MediaTooShortError,
    NoAudioStreamError,
    NotMediaError,
    NoVideoStreamError,
    SilentAudioError,
    UnsupportedCodecError,
    UnsupportedContainerError,
)

__all__ = [
    "ALLOWED_CONTAINERS",
    "DEFAULT_DECODE_TIMEOUT_S",
    "DURATION_TOLERANCE_S",
    "PROBE_TIMEOUT_S",
    "SILENCE_PEAK",
    "MediaInfo",
    "load_audio",
    "load_video_frames",
    "probe",
    "strip_log_addresses",
]

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

#: Time limit for probing alone (reading headers is quick on any sane file).
PROBE_TIMEOUT_S = 30.0
#: Time limit for probe + decode when the caller passes ``timeout_s=None``.
#: Decoding a 20-minute track takes a few seconds, so this only stops
#: pathological files.
DEFAULT_DECODE_TIMEOUT_S = 300.0
#: Audio whose absolute peak stays below this (-80 dBFS) is digital silence;
#: 16-bit dither (about 3e-5) stays below it, any audible content does not.
SILENCE_PEAK = 1e-4
#: Slack when comparing durations: codec priming and padding (AAC adds about
#: 20-50 ms) must not turn a 1.00 s file into a "too short" one.
DURATION_TOLERANCE_S = 0.05
#: A decode that yields less than this share of the announced duration, while
#: ffmpeg reports errors, is a truncated or damaged file.
_TRUNCATION_RATIO = 0.9

_MISSING_FFMPEG = "ffmpeg and ffprobe must be installed (Debian/Ubuntu: apt-get install ffmpeg)"

#: FFmpeg demuxers (names as in ``ffmpeg -demuxers``) that read audio or video
#: from the one file they are given. Everything else is refused, in particular
#: those that open other files or devices: ``hls``, ``dash``, ``imf``,
#: ``concat``, ``image2`` (name patterns), ``lavfi``, ``sdp``, ``rtp``, ``tee``,
#: ``data``, the image ``*_pipe`` demuxers and the subtitle/text formats.
ALLOWED_CONTAINERS = frozenset({
    # Audio files and raw audio streams.
    "wav", "w64", "aiff", "caf", "au", "voc", "flac", "mp3", "ogg", "aac", "loas", "ac3",
    "eac3", "dts", "dtshd", "truehd", "amr", "amrnb", "amrwb", "ape", "wv", "tta", "tak",
    "shn", "dsf", "mpc", "mpc8", "xwma",
    # Audio/video containers ("mov" covers mp4/m4a/3gp, "matroska" covers webm).
    "mov", "matroska", "avi", "asf", "flv", "mpegts", "mpeg", "nut", "mxf", "rm", "dv",
    "ivf",
    # Animated GIF is video; a still GIF is refused after probing.
    "gif",
})  # fmt: skip
_FORMAT_WHITELIST = ",".join(sorted(ALLOWED_CONTAINERS))
# What a refused demuxer reads, for the error message.
_REFUSED_FORMATS = {
    "hls": "an HLS playlist",
    "dash": "a DASH manifest",
    "imf": "an IMF composition playlist",
    "concat": "an ffconcat list",
    "image2": "an image sequence",
}
# How lists that name other files begin (after an optional UTF-8 byte order
# mark and blank space). Refused before ffmpeg sees the file, whatever follows.
_PLAYLIST_MARKERS = (b"#EXTM3U", b"#EXTINF", b"#EXT-X-", b"ffconcat", b"[playlist]")
# ffmpeg's complaint when the probed demuxer is not on ``-format_whitelist``;
# the log prefix names the demuxer.
_NOT_ON_WHITELIST = re.compile(r"\[([\w,]+) @ [^\]]*\] Format not on whitelist")
# The address in ffmpeg's log prefixes (``[wav @ 0x55d1c0a2b3c0]``).
_LOG_ADDRESS = re.compile(r" @ (?:0x)?[0-9a-fA-F]+\]")

# Demuxers that read a still image: for this service an image is not media.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe", "apng", "webp", "ico", "tiff", "alias_pix"})
# Leading bytes of containers that ffmpeg recognises. A file that starts like
# one of these but cannot be opened is damaged, not "something else".
_CONTAINER_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # MP4 / MOV / M4A / 3GP
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (4, b"wide"),
    (0, b"RIFF"),  # WAV / AVI
    (0, b"RF64"),
    (0, b"OggS"),
    (0, b"fLaC"),
    (0, b"ID3"),  # MP3 with a tag
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"FORM"),  # AIFF
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF / WMA / WMV
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"caff"),
    (0, b"wvpk"),
    (0, b"MAC "),
)


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learns from a file's headers.

    Stream fields describe the stream that :func:`load_audio` /
    :func:`load_video_frames` decode (the first audio stream, the first video
    stream that is not embedded cover art) and are ``None`` when that kind of
    stream is absent. A codec that ffprobe cannot name is reported as
    ``"unknown"``.
    """

    duration_s: float
    format_name: str
    has_audio: bool
    has_video: bool
    audio_codec: str | None = None
    video_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    size_bytes: int = 0


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def probe(path: str | os.PathLike[str], *, timeout_s: float | None = None) -> MediaInfo:
    """Read a media file's headers: duration, container, streams and codecs.

    Parameters
    ----------
    path : str or path-like
        The file. Any file name is safe (see the module docstring).
    timeout_s : float or None
        Time limit in seconds; ``None`` means :data:`PROBE_TIMEOUT_S`.

    Returns
    -------
    MediaInfo

    Raises
    ------
    FileNotFoundError
        The path does not exist (``IsADirectoryError`` for a directory).
    EmptyFileError
        The file has zero bytes.
    NotMediaError
        Text, random bytes, a still image, a file with neither audio nor
        video streams, or not a regular file (a FIFO, a device).
    CorruptMediaError
        A known container that cannot be opened (e.g. an MP4 cut short before
        its index), or one whose duration cannot be determined.
    DecodeTimeoutError
        ffprobe did not answer in time.
    """
    deadline = _deadline(PROBE_TIMEOUT_S if timeout_s is None else timeout_s)
    return _probe(_checked_path(path), deadline)[0]


def load_audio(
    path: str | os.PathLike[str],
    sr: int = 22050,
    *,
    min_duration_s: float = 1.0,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
    allow_silent: bool = False,
) -> np.ndarray:
    """Decode the first audio stream of a file to mono float32 at ``sr`` Hz.

    Channels are mixed down (the mean of left and right for stereo; the
    standard normalised down-mix for surround) and the signal resampled by
    ffmpeg; the result is the whole stream, so ``len(y) / sr`` is its duration.

    Parameters
    ----------
    path : str or path-like
        An audio file, or a video file with a soundtrack.
    sr : int
        Target sample rate in Hz.
    min_duration_s : float
        Shorter audio raises :class:`MediaTooShortError` (with a tolerance of
        :data:`DURATION_TOLERANCE_S` for codec padding).
    max_duration_s : float or None
        Longer audio raises :class:`MediaTooLongError`. Checked on the headers
        before decoding, and again on the decoded data (decoding stops shortly
        past the limit, so a lying header cannot exhaust memory).
    timeout_s : float or None
        Limit for probe and decode together; ``None`` means
        :data:`DEFAULT_DECODE_TIMEOUT_S`.
    allow_silent : bool
        Return digital silence instead of raising :class:`SilentAudioError`.

    Returns
    -------
    np.ndarray
        Shape ``(n_samples,)``, dtype ``float32``.

    Raises
    ------
    ValueError
        ``sr`` or a duration limit is not positive.
    MediaError
        One of its subclasses: :class:`EmptyFileError`, :class:`NotMediaError`,
        :class:`NoAudioStreamError`, :class:`UnsupportedCodecError`,
        :class:`CorruptMediaError`, :class:`MediaTooShortError`,
        :class:`MediaTooLongError`, :class:`SilentAudioError`,
        :class:`DecodeTimeoutError`.
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sr must be a positive integer, got {sr!r}")
    _check_limits(min_duration_s, max_duration_s)
    deadline = _deadline(DEFAULT_DECODE_TIMEOUT_S if timeout_s is None else timeout_s)
    abspath = _checked_path(path)
    info, streams = _probe(abspath, deadline)
    if not info.has_audio:
        raise NoAudioStreamError(f"{_name(abspath)} has no audio stream", path=abspath)
    _require_decodable(info.audio_codec, "audio", abspath)
    _check_announced_duration(info, max_duration_s, abspath)

    cmd = [
        *_ffmpeg_input(abspath),
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        # Down-mix with ffmpeg's standard matrix, normalised so that the
        # weights sum to one: the mean of the channels for stereo (as
        # librosa.to_mono), never louder than the loudest channel.
        "-ac", "1", "-rematrix_maxval", "1.0", "-ar", str(int(sr)),
        "-c:a", "pcm_f32le", "-f", "f32le",
        *_pipe_output(max_duration_s),
    ]  # fmt: skip
    out, errors = _decode(cmd, deadline, abspath)
    y = np.frombuffer(out, dtype="<f4").astype(np.float32)
    if y.size == 0:
        raise CorruptMediaError(
            f"no audio could be decoded from {_name(abspath)}{_first_line(errors)}", path=abspath
        )
    if not np.all(np.isfinite(y)):
        raise CorruptMediaError(f"{_name(abspath)} decodes to non-finite samples", path=abspath)

    decoded_s = y.size / sr
    announced_s = streams.audio_duration_s or info.duration_s
    _check_decoded_duration(decoded_s, announced_s, errors, min_duration_s, max_duration_s, abspath)
    if not allow_silent and float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise SilentAudioError(
            f"the audio of {_name(abspath)} is digital silence "
            f"(peak below {20 * math.log10(SILENCE_PEAK):.0f} dBFS)",
            path=abspath,
        )
    return y


def load_video_frames(
    path: str | os.PathLike[str],
    fps: float | None,
    width: int,
    height: int,
    *,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> np.ndarray:
    """Decode the first video stream to RGB frames of ``width`` x ``height``.

    Frames are resampled in time by ffmpeg's ``fps`` filter (frame ``i`` shows
    the picture at time ``i / fps``) and scaled with ffmpeg's default scaler,
    exactly as ``ffmpeg -i FILE -s WxH -pix_fmt rgb24 -f rawvideo`` does, so
    that models trained on frames decoded that way (TransNetV2) see the same
    pixels. The aspect ratio is not preserved: callers choose the frame size.

    Parameters
    ----------
    path : str or path-like
        A video file.
    fps : float or None
        Output frame rate; ``None`` keeps the native rate.
    width, height : int
        Output frame size in pixels.
    max_duration_s : float or None
        Longer video raises :class:`MediaTooLongError`.
    timeout_s : float or None
        Limit for probe and decode together; ``None`` means
        :data:`DEFAULT_DECODE_TIMEOUT_S`.

    Returns
    -------
    np.ndarray
        Shape ``(n_frames, height, width, 3)``, dtype ``uint8``, RGB.

    Raises
    ------
    ValueError
        ``fps``, ``width``, ``height`` or ``max_duration_s`` is not positive.
    MediaError
        One of its subclasses: :class:`EmptyFileError`, :class:`NotMediaError`
        (including still images), :class:`NoVideoStreamError`,
        :class:`UnsupportedCodecError`, :class:`CorruptMediaError`,
        :class:`MediaTooLongError`, :class:`DecodeTimeoutError`.
    """
    for label, value in (("width", width), ("height", height)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive or None, got {fps!r}")
    _check_limits(0.0, max_duration_s)
    deadline = _deadline(DEFAULT_DECODE_TIMEOUT_S if timeout_s is None else timeout_s)
    abspath = _checked_path(path)
    info, streams = _probe(abspath, deadline)
    if not info.has_video:
        raise NoVideoStreamError(f"{_name(abspath)} has no video stream", path=abspath)
    _require_decodable(info.video_codec, "video", abspath)
    _check_announced_duration(info, max_duration_s, abspath)

    video_filter = ["-vf", f"fps=fps={fps!r}"] if fps is not None else []
    cmd = [
        *_ffmpeg_input(abspath),
        "-map", f"0:v:{streams.video_position}", "-an", "-sn", "-dn",
        *video_filter,
        "-s", f"{int(width)}x{int(height)}", "-pix_fmt", "rgb24", "-f", "rawvideo",
        *_pipe_output(max_duration_s),
    ]  # fmt: skip
    out, errors = _decode(cmd, deadline, abspath)
    frame_bytes = int(width) * int(height) * 3
    n_frames, leftover = divmod(len(out), frame_bytes)
    if n_frames == 0 or leftover:
        raise CorruptMediaError(
            f"no complete video frame could be decoded from {_name(abspath)}{_first_line(errors)}",
            path=abspath,
        )
    frames = np.frombuffer(out, dtype=np.uint8).reshape(n_frames, int(height), int(width), 3)

    rate = fps if fps is not None else info.fps
    if rate:
        announced_s = streams.video_duration_s or info.duration_s
        _check_decoded_duration(n_frames / rate, announced_s, errors, 0.0, max_duration_s, abspath)
    return frames.copy()  # writable, independent of the pipe buffer


# --------------------------------------------------------------------------- #
# Probing
# --------------------------------------------------------------------------- #


class _Streams(NamedTuple):
    """What decoding needs beyond :class:`MediaInfo`."""

    video_position: int  # among the file's video streams, for ``-map 0:v:N``
    audio_duration_s: float | None  # of the decoded streams, when the container says
    video_duration_s: float | None


def _probe(abspath: str, deadline: float) -> tuple[MediaInfo, _Streams]:
    """Probe a checked path."""
    size = os.path.getsize(abspath)
    if size == 0:
        raise EmptyFileError(f"{_name(abspath)} is empty (0 bytes)", path=abspath)
    head = _read_head(abspath)
    if _looks_like_playlist(head):
        raise UnsupportedContainerError(
            f"{_name(abspath)} is a playlist or list of other files, not audio or video",
            path=abspath,
        )
    if _looks_like_text(head):
        raise NotMediaError(f"{_name(abspath)} is a text file, not audio or video", path=abspath)

    cmd = [
        FFPROBE, "-hide_banner", "-v", "error",
        *_input_restrictions(),
        "-print_format", "json", "-show_format", "-show_streams",
        _file_url(abspath),
    ]  # fmt: skip
    result = _run(cmd, deadline, abspath)
    try:
        data: dict[str, Any] = json.loads(result.stdout or b"{}")
    except json.JSONDecodeError:
        data = {}
    if result.returncode != 0 or "format" not in data:
        message = result.stderr.decode("utf-8", "replace")
        refused = _NOT_ON_WHITELIST.search(message)
        if refused:
            raise _refused_format_error(refused.group(1), abspath)
        # Decided from the leading bytes, not from ffmpeg's message: given a
        # ".mp4" name, ffmpeg reports random bytes as an MP4 without index.
        if _looks_like_container(head):
            raise CorruptMediaError(
                f"{_name(abspath)} looks like a media container but cannot be read"
                f"{_first_line(message)}",
                path=abspath,
            )
        raise NotMediaError(
            f"{_name(abspath)} is not an audio or video file{_first_line(message)}", path=abspath
        )
    return _media_info(data, size, abspath)


def _media_info(data: dict[str, Any], size: int, abspath: str) -> tuple[MediaInfo, _Streams]:
    fmt = data.get("format", {})
    format_name = str(fmt.get("format_name", ""))
    if not set(format_name.split(",")) & ALLOWED_CONTAINERS:
        raise _refused_format_error(format_name, abspath)
    streams = data.get("streams", [])
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    video_streams = [s for s in streams if s.get("codec_type") == "video"]
    video_position, video = next(
        ((i, s) for i, s in enumerate(video_streams) if not _is_cover_art(s)), (0, None)
    )

    if _is_still_image(format_name, video, audio):
        raise NotMediaError(
            f"{_name(abspath)} is a still image ({format_name}), not audio or video", path=abspath
        )
    if audio is None and video is None:
        raise NotMediaError(
            f"{_name(abspath)} holds no audio or video stream ({format_name})", path=abspath
        )

    durations = [_float(fmt.get("duration"))] + [_float(s.get("duration")) for s in streams]
    known = [d for d in durations if d is not None and d > 0]
    if not known:
        raise CorruptMediaError(f"the duration of {_name(abspath)} is unknown", path=abspath)

    info = MediaInfo(
        duration_s=known[0],
        format_name=format_name,
        has_audio=audio is not None,
        has_video=video is not None,
        audio_codec=_codec_name(audio),
        video_codec=_codec_name(video),
        sample_rate=_int(audio.get("sample_rate")) if audio else None,
        channels=_int(audio.get("channels")) if audio else None,
        width=_int(video.get("width")) if video else None,
        height=_int(video.get("height")) if video else None,
        fps=_frame_rate(video) if video else None,
        size_bytes=size,
    )
    return info, _Streams(
        video_position,
        _float(audio.get("duration")) if audio else None,
        _float(video.get("duration")) if video else None,
    )


def _refused_format_error(demuxer: str, abspath: str) -> NotMediaError:
    """The error for a file that ffmpeg reads with a demuxer that is not allowed.

    Still images keep their own message (they are "not media"); every other
    refused format (playlists, lists, image sequences...) is an
    :class:`UnsupportedContainerError`.
    """
    names = set(demuxer.split(","))
    if names & _IMAGE_FORMATS - {"image2"} or any(n.endswith("_pipe") for n in names):
        return NotMediaError(
            f"{_name(abspath)} is a still image ({demuxer}), not audio or video", path=abspath
        )
    what = next((_REFUSED_FORMATS[n] for n in names if n in _REFUSED_FORMATS), "in a format")
    return UnsupportedContainerError(
        f"{_name(abspath)} is {what} ({demuxer}), not a supported audio or video container",
        path=abspath,
    )


def _is_cover_art(stream: dict[str, Any]) -> bool:
    # An MP3 or M4A with album art has a one-picture "video" stream.
    disposition = stream.get("disposition", {})
    return bool(disposition.get("attached_pic") or disposition.get("timed_thumbnails"))


def _is_still_image(
    format_name: str, video: dict[str, Any] | None, audio: dict[str, Any] | None
) -> bool:
    if audio is not None:
        return False
    names = set(format_name.split(","))
    if names & _IMAGE_FORMATS or any(n.endswith("_pipe") for n in names):
        return True
    # A GIF is a still image unless it is animated.
    return video is not None and "gif" in names and _int(video.get("nb_frames")) in (None, 0, 1)


def _codec_name(stream: dict[str, Any] | None) -> str | None:
    if stream is None:
        return None
    name = stream.get("codec_name")
    return str(name) if name and name != "none" else "unknown"


def _frame_rate(stream: dict[str, Any]) -> float | None:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(stream.get(key, "0/0")).partition("/")
        try:
            rate = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if math.isfinite(rate) and rate > 0:
            return rate
    return None


@functools.lru_cache(maxsize=1)
def _decodable_codecs() -> frozenset[str]:
    """Codec names for which the installed ffmpeg has a decoder."""
    try:
        listing = subprocess.run(
            [FFMPEG, "-hide_banner", "-codecs"],
            capture_output=True, stdin=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S, check=True,
        ).stdout.decode("utf-8", "replace")  # fmt: skip
    except FileNotFoundError:
        raise FFmpegNotFoundError(_MISSING_FFMPEG) from None
    codecs = set()
    for line in listing.partition("-------")[2].splitlines():
        flags, _, rest = line.strip().partition(" ")
        if len(flags) == 6 and flags[0] == "D" and rest.split():
            codecs.add(rest.split()[0])
    return frozenset(codecs)


def _require_decodable(codec: str | None, kind: str, abspath: str) -> None:
    if codec is None or codec not in _decodable_codecs():
        raise UnsupportedCodecError(
            f"the {kind} codec of {_name(abspath)} ({codec}) cannot be decoded", path=abspath
        )


# --------------------------------------------------------------------------- #
# Decoding
# --------------------------------------------------------------------------- #


def _decode(cmd: list[str], deadline: float, abspath: str) -> tuple[bytes, str]:
    """Run an ffmpeg decode; return (stdout bytes, stderr text) or raise."""
    result = _run(cmd, deadline, abspath)
    errors = result.stderr.decode("utf-8", "replace")
    if result.returncode != 0:
        if "decoder" in errors.lower() and "not found" in errors.lower():
            raise UnsupportedCodecError(
                f"ffmpeg has no decoder for {_name(abspath)}{_first_line(errors)}", path=abspath
            )
        raise CorruptMediaError(
            f"ffmpeg failed to decode {_name(abspath)}{_first_line(errors)}", path=abspath
        )
    return result.stdout, errors


def _check_announced_duration(info: MediaInfo, max_duration_s: float | None, abspath: str) -> None:
    if max_duration_s is not None and info.duration_s > max_duration_s + DURATION_TOLERANCE_S:
        raise MediaTooLongError(
            f"{_name(abspath)} lasts {info.duration_s:.1f} s, more than the "
            f"{max_duration_s:g} s allowed",
            path=abspath,
        )


def _check_decoded_duration(
    decoded_s: float,
    announced_s: float,
    errors: str,
    min_duration_s: float,
    max_duration_s: float | None,
    abspath: str,
) -> None:
    # Much shorter than announced *and* ffmpeg complained: damaged, not short.
    # (Without complaints, a short decode is a header that over-estimates, as
    # with VBR MP3s lacking a Xing header.)
    if errors.strip() and decoded_s < _TRUNCATION_RATIO * announced_s - DURATION_TOLERANCE_S:
        raise CorruptMediaError(
            f"{_name(abspath)} is truncated or damaged: {decoded_s:.2f} s decoded of "
            f"{announced_s:.2f} s announced{_first_line(errors)}",
            path=abspath,
        )
    if decoded_s + DURATION_TOLERANCE_S < min_duration_s:
        raise MediaTooShortError(
            f"{_name(abspath)} lasts {decoded_s:.2f} s, less than the "
            f"{min_duration_s:g} s required",
            path=abspath,
        )
    if max_duration_s is not None and decoded_s > max_duration_s + DURATION_TOLERANCE_S:
        raise MediaTooLongError(
            f"{_name(abspath)} lasts more than the {max_duration_s:g} s allowed", path=abspath
        )


def _pipe_output(max_duration_s: float | None) -> list[str]:
    """Output options shared by every decode, ending with the pipe."""
    # ffmpeg flushes its output after every packet by default: a few KB per
    # write, so reading a track cost ~15,000 wake-ups of this process. Without
    # per-packet flushing it writes full 32 KB buffers (measured: 6x less CPU
    # here, a quarter less in ffmpeg).
    return ["-flush_packets", "0", *_output_limit(max_duration_s), "pipe:1"]


def _output_limit(max_duration_s: float | None) -> list[str]:
    # Decode a little past the limit so that "too long" is still detectable,
    # but never the whole of a file whose header lies about its length.
    if max_duration_s is None:
        return []
    return ["-t", f"{max_duration_s + 1.0:.3f}"]


def _ffmpeg_input(abspath: str) -> list[str]:
    return [
        FFMPEG, "-nostdin", "-hide_banner", "-v", "error",
        *_input_restrictions(),
        "-i", _file_url(abspath),
    ]  # fmt: skip


def _input_restrictions() -> list[str]:
    """Input options for every ffprobe / ffmpeg call on a user's file: only the
    ``file`` protocol, and only the demuxers of :data:`ALLOWED_CONTAINERS`."""
    return ["-protocol_whitelist", "file", "-format_whitelist", _FORMAT_WHITELIST]


# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #


def _run(cmd: list[str], deadline: float, abspath: str) -> subprocess.CompletedProcess[bytes]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DecodeTimeoutError(
            f"time limit reached before reading {_name(abspath)}", path=abspath
        )
    try:
        # subprocess.run kills and reaps the child when the timeout expires.
        return subprocess.run(
            cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=remaining, check=False
        )
    except FileNotFoundError:  # the program, not the media file (checked before)
        raise FFmpegNotFoundError(_MISSING_FFMPEG) from None
    except subprocess.TimeoutExpired:
        raise DecodeTimeoutError(
            f"{os.path.basename(cmd[0])} did not finish reading {_name(abspath)} "
            f"within the time limit",
            path=abspath,
        ) from None


def _deadline(timeout_s: float) -> float:
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    return time.monotonic() + float(timeout_s)


def _check_limits(min_duration_s: float, max_duration_s: float | None) -> None:
    if not min_duration_s >= 0:
        raise ValueError(f"min_duration_s must be >= 0, got {min_duration_s!r}")
    if max_duration_s is not None and not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be positive or None, got {max_duration_s!r}")


def _checked_path(path: str | os.PathLike[str]) -> str:
    abspath = os.path.abspath(os.fspath(path))
    if os.path.isdir(abspath):
        raise IsADirectoryError(f"{abspath!r} is a directory, not a media file")
    if not os.path.exists(abspath):
        raise FileNotFoundError(f"no such file: {abspath!r}")
    if not os.path.isfile(abspath):
        # A FIFO or a device would block or never end.
        raise NotMediaError(f"{_name(abspath)} is not a regular file", path=abspath)
    return abspath


def _file_url(abspath: str) -> str:
    return "file:" + abspath


def _read_head(abspath: str, n_bytes: int = 4096) -> bytes:
    with open(abspath, "rb") as f:
        return f.read(n_bytes)


def _looks_like_text(head: bytes) -> bool:
    """UTF-8 text without control characters (playlists, subtitles, renamed notes)."""
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The head may end inside a multi-byte character.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    return controls == 0


def _looks_like_playlist(head: bytes) -> bool:
    """A playlist or list that names other files (HLS, ffconcat, PLS), even with
    binary bytes appended so that it does not pass for text."""
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(_PLAYLIST_MARKERS)


def _looks_like_container(head: bytes) -> bool:
    if any(head[offset : offset + len(sig)] == sig for offset, sig in _CONTAINER_SIGNATURES):
        return True
    # MPEG transport stream: a sync byte every 188 bytes.
    return len(head) > 376 and head[0] == head[188] == head[376] == 0x47


def _first_line(message: str) -> str:
    """``": <first line of ffmpeg's message>"``, without memory addresses, or ``""``."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return f": {strip_log_addresses(lines[0])[:200]}" if lines else ""


def strip_log_addresses(text: str) -> str:
    """Remove the memory addresses of ffmpeg's log prefixes: ``[wav @ 0x55d1...]``
    becomes ``[wav]`` (they tell a client nothing and reveal the memory layout)."""
    return _LOG_ADDRESS.sub("]", text)


def _name(abspath: str) -> str:
    return repr(os.path.basename(abspath))


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
