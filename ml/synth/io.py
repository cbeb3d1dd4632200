"""Write generated media with ffmpeg through pipes (no shell, no temp files).

Raw samples go in as ``f32le`` and raw frames as ``rgb24``; the container and
codec follow the file extension (``.mp4``: H.264 + AAC; ``.wav``, ``.flac``,
``.m4a``...). Files are written under a temporary name and renamed when
ffmpeg succeeds, so a crash never leaves a complete-looking partial file --
which is what makes corpus generation resumable.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ml.synth.errors import MediaWriteError, SynthSpecError
from ml.synth.video import check_frame_size

FFMPEG = "ffmpeg"
# ffmpeg's native AAC encoder with the fast coder: half the CPU of the default
# two-loop search, indistinguishable for synthetic test material.
_AAC = ["-c:a", "aac", "-aac_coder", "fast", "-b:a", "128k"]
_AUDIO_CODECS = {".m4a": _AAC, ".mp4": _AAC, ".aac": _AAC}


def _partial_path(path: Path) -> Path:
    # Keep the extension: ffmpeg picks the container from it.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _mono_f32(y: np.ndarray) -> bytes:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise SynthSpecError(f"audio must be a non-empty 1-D array, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise SynthSpecError("audio contains NaN or infinite samples")
    return np.ascontiguousarray(y, dtype="<f4").tobytes()


def _run(cmd: list[str], path: Path, feed, pass_fds: tuple[int, ...] = ()) -> None:
    """Run ffmpeg writing ``path`` atomically; ``feed(stdin)`` writes the input.

    The descriptors in ``pass_fds`` are inherited by ffmpeg and closed here
    once it has started, so that a writer on their other end sees a broken
    pipe (not a hang) if ffmpeg dies.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(path)
    try:
        proc = subprocess.Popen(
            [*cmd, str(partial)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
        )
    except OSError as exc:
        raise MediaWriteError(f"cannot start {FFMPEG}: {exc}") from exc
    finally:
        for fd in pass_fds:
            os.close(fd)
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    try:
        feed(proc.stdin)
    except BrokenPipeError:
        pass  # ffmpeg exited early; its exit status and stderr say why
    except BaseException:
        proc.kill()
        raise
    finally:
        if not proc.stdin.closed:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        proc.wait()
        reader.join()
        if proc.returncode != 0:
            partial.unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = b"".join(stderr_chunks).decode(errors="replace").strip()[-2000:]
        raise MediaWriteError(f"ffmpeg failed writing {path.name} (exit {proc.returncode})", tail)
    os.replace(partial, path)


def write_audio(path: str | os.PathLike, y: np.ndarray, sr: int) -> Path:
    """Write mono float samples to ``path`` (format from its extension).

    Samples are expected in [-1, 1]; lossy and integer formats clip outside.
    Returns the path written. Raises :class:`SynthSpecError` for bad input and
    :class:`MediaWriteError` when ffmpeg fails.
    """
    if sr <= 0:
        raise SynthSpecError(f"sample rate must be positive, got {sr}")
    path = Path(path)
    data = _mono_f32(y)
    cmd = [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "f32le",
        "-ar",
        str(sr),
        "-ac",
        "1",
        "-i",
        "pipe:0",
        *_AUDIO_CODECS.get(path.suffix.lower(), []),
    ]
    _run(cmd, path, lambda stdin: stdin.write(data))
    return path


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    *,
    crf: int = 23,
    preset: str = "veryfast",
    threads: int = 0,
) -> Path:
    """Encode RGB frames (and optionally mono audio) to ``path``.

    ``frames`` is an ``(N, H, W, 3)`` uint8 array or any iterable of
    ``(H, W, 3)`` uint8 frames (streamed, so long clips need not sit in
    memory). Video is H.264 (yuv420p, so H and W must be even); audio is AAC
    for ``.mp4``. ``threads=0`` lets the encoder choose; pass 1 when several
    encoders run in parallel. Returns the path written.
    """
    if fps <= 0:
        raise SynthSpecError(f"fps must be positive, got {fps}")
    if (audio is None) != (sr is None):
        raise SynthSpecError("pass audio and sr together")
    iterator = iter(frames)
    try:
        first = np.asarray(next(iterator))
    except StopIteration:
        raise SynthSpecError("no frames to write") from None
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise SynthSpecError(f"frames must be (H, W, 3) uint8, got {first.shape} {first.dtype}")
    height, width = first.shape[:2]
    check_frame_size(width, height)
    path = Path(path)

    cmd = [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        repr(float(fps)),
        "-i",
        "pipe:0",
    ]
    audio_bytes = b""
    read_fd = write_fd = -1
    if audio is not None:
        audio_bytes = _mono_f32(audio)
        read_fd, write_fd = os.pipe()
        cmd += ["-f", "f32le", "-ar", str(sr), "-ac", "1", "-i", f"pipe:{read_fd}"]
        cmd += ["-map", "0:v", "-map", "1:a", *_AAC]
    cmd += [
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-threads",
        str(threads),
        "-movflags",
        "+faststart",
    ]

    pump_started = [False]  # the pump thread owns (and closes) write_fd once started

    def feed(stdin) -> None:
        # ffmpeg reads both inputs concurrently: the audio goes through its
        # own pipe from a thread so that neither pipe can fill and deadlock.
        writer = None
        if audio is not None:
            pump_started[0] = True

            def pump() -> None:
                with os.fdopen(write_fd, "wb") as pipe:
                    try:
                        pipe.write(audio_bytes)
                    except BrokenPipeError:
                        pass

            writer = threading.Thread(target=pump, daemon=True)
            writer.start()
        try:
            stdin.write(first.tobytes())
            for frame in iterator:
                frame = np.asarray(frame)
                if frame.shape != first.shape or frame.dtype != np.uint8:
                    raise SynthSpecError(
                        f"frame of shape {frame.shape} {frame.dtype} after {first.shape} uint8"
                    )
                stdin.write(np.ascontiguousarray(frame).tobytes())
        finally:
            # End the video input first: ffmpeg may need it to drain the audio.
            try:
                stdin.close()
            except BrokenPipeError:
                pass
            if writer is not None:
                writer.join()

    try:
        _run(cmd, path, feed, pass_fds=(read_fd,) if audio is not None else ())
    finally:
        if audio is not None and not pump_started[0]:
            os.close(write_fd)
    return path
