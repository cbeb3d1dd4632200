"""Errors raised when a media file cannot be used.

Every error is a :class:`MediaError`, itself a :class:`ValueError`: the input is
bad, not the program. Each subclass carries a short machine-readable ``reason``
(a class attribute, also available on instances) so that callers such as the
HTTP layer or a worker can map failures to status codes and stored job errors
without parsing messages::

    try:
        y = load_audio(path)
    except MediaError as err:
        job.fail(err.reason, str(err))

Arguments that are wrong regardless of the file (a negative sample rate, a zero
frame size) raise a plain :class:`ValueError`; a missing file raises
:class:`FileNotFoundError`; a machine without ffmpeg raises
:class:`FFmpegNotFoundError` (a deployment problem, not bad input).
"""

from __future__ import annotations

__all__ = [
    "MediaError",
    "EmptyFileError",
    "NotMediaError",
    "UnsupportedContainerError",
    "NoAudioStreamError",
    "NoVideoStreamError",
    "CorruptMediaError",
    "UnsupportedCodecError",
    "MediaTooShortError",
    "MediaTooLongError",
    "SilentAudioError",
    "DecodeTimeoutError",
    "FFmpegNotFoundError",
]


class MediaError(ValueError):
    """Base class: a file that cannot be decoded or analysed as requested.

    Parameters
    ----------
    message : str
        A sentence for humans.
    path : str or None
        The offending file, when known (kept out of ``reason``).
    """

    reason: str = "media_error"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class EmptyFileError(MediaError):
    """The file has zero bytes."""

    reason = "empty_file"


class NotMediaError(MediaError):
    """The file is not audio or video (text, random bytes, a still image...)."""

    reason = "not_media"


class UnsupportedContainerError(NotMediaError):
    """FFmpeg can read the file, but not as an audio or video container that is
    accepted: a playlist or list that refers to other files (HLS, ffconcat, DASH),
    an image sequence, or any format outside the allow-list of containers."""

    reason = "unsupported_container"


class NoAudioStreamError(MediaError):
    """The file is media but holds no audio stream (e.g. a silent video)."""

    reason = "no_audio_stream"


class NoVideoStreamError(MediaError):
    """The file is media but holds no video stream (e.g. an audio file)."""

    reason = "no_video_stream"


class CorruptMediaError(MediaError):
    """The file looks like a media container but is damaged or truncated."""

    reason = "corrupt_media"


class UnsupportedCodecError(MediaError):
    """A stream uses a codec that the installed ffmpeg cannot decode."""

    reason = "unsupported_codec"


class MediaTooShortError(MediaError):
    """The decoded media is shorter than the requested minimum duration."""

    reason = "too_short"


class MediaTooLongError(MediaError):
    """The media is longer than the allowed maximum duration."""

    reason = "too_long"


class SilentAudioError(MediaError):
    """The audio decodes but is digital silence (nothing to analyse)."""

    reason = "silent_audio"


class DecodeTimeoutError(MediaError):
    """Probing or decoding did not finish within the time limit."""

    reason = "decode_timeout"


class FFmpegNotFoundError(RuntimeError):
    """The ``ffmpeg`` / ``ffprobe`` programs are not installed (not a media error:
    no file can be read until the deployment is fixed)."""
