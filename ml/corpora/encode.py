"""Write a clip as MP4 (H.264 video, AAC audio) by piping raw frames to ffmpeg.

The soundtrack goes through a temporary WAV file next to the output; the frames
go through ffmpeg's standard input as ``rgb24``. The file is written under a
temporary name and renamed when complete, so an interrupted build never leaves a
clip that looks finished. Encoding is single-threaded with ffmpeg's bit-exact
flags and no metadata, so the same frames and audio give the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["AUDIO_RATE", "write_mp4"]

#: Sample rate of the soundtrack (Hz).
AUDIO_RATE = 44100


def write_mp4(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float,
    size: tuple[int, int],
    audio: np.ndarray,
    sr: int,
    *,
    crf: int = 16,
    timeout_s: float = 600.0,
) -> None:
    """Encode ``frames`` with ``audio`` into ``path``.

    Parameters
    ----------
    frames : iterable of np.ndarray
        ``uint8`` RGB, each ``(height, width, 3)`` with ``size == (width, height)``
        (both even, as yuv420p needs).
    fps : float
        Frame rate.
    audio : np.ndarray
        ``(n_samples, channels)`` float in [-1, 1] at ``sr`` Hz; stored as AAC at
        :data:`AUDIO_RATE`.
    crf : int
        x264 quality (lower is better; 16 keeps hard cuts crisp at small sizes).
    """
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"frame size must be even, got {width}x{height}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_video = out.with_name(f".{out.stem}.partial.mp4")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".enc-") as tmp:
        wav = Path(tmp) / "audio.wav"
        sf.write(wav, np.asarray(audio, np.float32), sr, subtype="FLOAT")
        log = Path(tmp) / "ffmpeg.log"
        cmd = [
            "ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-threads", "1",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
            "-i", "pipe:0", "-i", f"file:{wav}",
            "-map", "0:v:0", "-map", "1:a:0",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-x264-params", "threads=1", "-g", "250",
            "-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE),
            "-map_metadata", "-1", "-fflags", "+bitexact",
            "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-movflags", "+faststart", f"file:{tmp_video}",
        ]  # fmt: skip
        with open(log, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
            try:
                for frame in frames:
                    if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                        raise ValueError(f"bad frame {frame.shape} {frame.dtype}")
                    proc.stdin.write(np.ascontiguousarray(frame).tobytes())
                proc.stdin.close()
                rc = proc.wait(timeout=timeout_s)
            except BaseException:
                proc.kill()
                proc.wait()
                tmp_video.unlink(missing_ok=True)
                raise
        if rc != 0:
            tmp_video.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg failed ({rc}) on {out.name}: {log.read_text()[-2000:]}")
    os.replace(tmp_video, out)
