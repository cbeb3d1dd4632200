"""Exceptions raised by the synthetic corpus generator.

Two kinds of failure exist: the caller asked for something impossible (a bad
specification, caught before any work is done) and the encoder refused to
write a file (ffmpeg missing, a codec error, a full disk).
"""

from __future__ import annotations


class SynthSpecError(ValueError):
    """A generation parameter is out of range or inconsistent.

    Examples: a clip shorter than two minimal music segments, odd frame
    dimensions (H.264 with 4:2:0 chroma needs even ones), a non-positive
    sample rate, or resuming a corpus with parameters that differ from the
    ones recorded in its manifest.
    """


class MediaWriteError(RuntimeError):
    """ffmpeg could not write a media file.

    ``stderr`` holds the tail of ffmpeg's diagnostics (empty when ffmpeg
    itself could not be started).
    """

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message if not stderr else f"{message}: {stderr}")
        self.stderr = stderr
