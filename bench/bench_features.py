"""Benchmark: decoding and frame-feature extraction, against naive library calls.

Reports seconds of processing per minute of media (lower is better), as wall
time and as CPU time (this process plus its ffmpeg children), and the speed-up
over a naive baseline measured in the same run, on the same files:

* audio decode -- ``ml.media.decode.load_audio`` (one ffmpeg pipe to float32
  mono at 22.05 kHz) against ``librosa.load(path, sr=22050)``;
* video decode -- ``load_video_frames`` at the video extractor's 4 fps and
  64 x 36 (ffmpeg samples and scales) against PyAV decoding every frame to a
  64 x 36 RGB array and keeping 4 per second;
* audio ``handcrafted`` -- one blockwise STFT shared by all features, tempogram
  columns only at 1 Hz, against librosa computing each feature from the signal
  with its own STFT (its default chroma with tuning estimation, a full-rate
  tempogram), pooled per second identically;
* video ``handcrafted`` -- vectorised over frames, against the same per-frame
  computation in a Python loop.

The audio is the first tracks of the Debian package ``wesnoth-music`` when it is
installed (real music), else a synthetic track; ``--audio`` takes any files.
The video is synthetic (moving coloured shots with hard cuts, H.264, 25 fps).
Peak memory is the largest Python-side allocation of a stage (tracemalloc,
which sees NumPy buffers; ffmpeg's own memory is outside it).

    python -m bench.bench_features [--seconds 60] [--tracks 2] [--repeats 2] [--audio FILE ...]
"""

from __future__ import annotations

import argparse
import glob
import resource
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEBIAN_MUSIC_GLOB = "/usr/share/games/wesnoth/*/data/core/music/*.ogg"
NAIVE_TEMPOGRAM_WINDOW = 384


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ffmpeg)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(run: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(best wall seconds, best CPU seconds, peak traced MiB) over ``repeats`` runs.

    CPU time is reported beside wall time because on a shared machine the
    wall clock measures the neighbours as much as the code.
    """
    best_wall = best_cpu = float("inf")
    peak = 0
    for _ in range(repeats):
        tracemalloc.start()
        start, start_cpu = time.perf_counter(), cpu_seconds()
        run()
        best_wall = min(best_wall, time.perf_counter() - start)
        best_cpu = min(best_cpu, cpu_seconds() - start_cpu)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best_wall, best_cpu, peak / 2**20


# --------------------------------------------------------------------------- #
# Media
# --------------------------------------------------------------------------- #


def synthetic_track(path: Path, seconds: float, sr: int = 44100) -> Path:
    """Chords over a drum-like pulse with a change of texture every 15 s (MP3)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    roots = 110.0 * 2 ** (np.array([0, 5, 7, 3]) / 12)
    root = roots[(t // 15).astype(int) % roots.size]
    y = sum(0.15 * np.sin(2 * np.pi * root * ratio * t) for ratio in (1.0, 1.26, 1.5))
    beat = (t * 2.0) % 1.0  # 120 BPM
    y += 0.3 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-beat * 30)
    ffmpeg_encode(path, ["-f", "f32le", "-ar", str(sr), "-ac", "1", "-i", "pipe:0",
                         "-c:a", "libmp3lame", "-q:a", "2"], y.astype("<f4").tobytes())  # fmt: skip
    return path


def synthetic_video(
    path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (320, 180)
) -> Path:
    """Shots of 5 s: a moving gradient in a new colour each shot (H.264)."""
    w, h = size
    xx = np.arange(w)[None, :]
    yy = np.arange(h)[:, None]

    def frames():
        for i in range(int(seconds * fps)):
            shot = i // (5 * fps)
            hue = np.array([(shot * 97) % 256, (shot * 53 + 80) % 256, (shot * 151 + 160) % 256])
            wave = 0.5 + 0.5 * np.sin((xx + 4 * i) / (8 + shot % 5) + yy / 20)
            yield (wave[..., None] * hue).astype(np.uint8).tobytes()

    ffmpeg_encode(path, ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps),
                         "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast",
                         "-pix_fmt", "yuv420p"], b"".join(frames()))  # fmt: skip
    return path


def ffmpeg_encode(path: Path, args: list[str], data: bytes) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args, str(path)]
    subprocess.run(cmd, input=data, check=True, capture_output=True)


# --------------------------------------------------------------------------- #
# Naive baselines
# --------------------------------------------------------------------------- #


def naive_audio_features(y: np.ndarray, sr: int) -> np.ndarray:
    """Each librosa feature from the signal, each with its own STFT, pooled per second."""
    import librosa

    from ml.features.audio_handcrafted import tempo_features
    from ml.features.timegrid import n_seconds, pool_per_second

    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    per_frame = [
        mfcc,
        librosa.feature.delta(mfcc),
        librosa.feature.delta(mfcc, order=2),
        librosa.feature.chroma_stft(y=y, sr=sr),
        librosa.feature.spectral_centroid(y=y, sr=sr),
        librosa.feature.spectral_bandwidth(y=y, sr=sr),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
        librosa.feature.spectral_flatness(y=y),
        librosa.feature.spectral_contrast(y=y, sr=sr),
        librosa.feature.zero_crossing_rate(y),
        librosa.feature.rms(y=y),
    ]
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    librosa.feature.tempogram(onset_envelope=onset, sr=sr, win_length=NAIVE_TEMPOGRAM_WINDOW)
    n_frames = min(f.shape[1] for f in per_frame)
    stacked = np.vstack([f[:, :n_frames] for f in per_frame] + [onset[None, :n_frames]])
    times = librosa.frames_to_time(np.arange(n_frames), sr=sr)
    rows = n_seconds(y.size / sr)
    return np.hstack([pool_per_second(stacked.T, times, rows, ("mean", "std")),
                      tempo_features(onset, rows)])  # fmt: skip


def naive_video_frames(path: Path, fps: float, size: tuple[int, int]) -> np.ndarray:
    """PyAV: decode every frame to a small RGB array, keep the ones nearest each 1/fps step."""
    import av

    kept, next_time = [], 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time + 1e-9 >= next_time:
                kept.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                next_time += 1.0 / fps
    return np.stack(kept)


def naive_video_features(frames: np.ndarray, fps: float) -> np.ndarray:
    """The same per-frame features, one frame at a time."""
    from ml.features import video_handcrafted as vh
    from ml.features.timegrid import n_seconds, pool_per_second

    rows, previous = [], None
    for frame in frames:
        rgb = frame[None].astype(np.float32) / 255.0
        luma = rgb @ vh._LUMA_WEIGHTS
        motion = vh.motion_features(np.concatenate([previous, luma]))[1:] if previous is not None \
            else np.zeros((1, 2), np.float32)  # fmt: skip
        rows.append(np.hstack([vh._colour(rgb, luma), vh._texture(luma), motion]))
        previous = luma
    values = np.vstack(rows)
    if len(values) > 1:
        values[0, -2:] = values[1, -2:]
    times = np.arange(len(frames)) / fps
    n = n_seconds(len(frames) / fps)
    return np.hstack([pool_per_second(values, times, n),
                      pool_per_second(values[:, -2], times, n, ("max",))])  # fmt: skip


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic media")
    parser.add_argument("--tracks", type=int, default=2, help="Debian tracks to use when found")
    parser.add_argument("--repeats", type=int, default=2, help="runs per measurement (best kept)")
    parser.add_argument("--audio", nargs="*", default=None, help="audio files to use instead")
    args = parser.parse_args(argv)

    import librosa

    from ml.features import get_extractor
    from ml.media.decode import load_audio, load_video_frames, probe

    audio_x = get_extractor("handcrafted", "audio")
    video_x = get_extractor("handcrafted", "video")
    results: list[tuple[str, float, float, float, float, float, float]] = []

    def compare(
        stage: str, minutes: float, ours: Callable[[], object], naive: Callable[[], object]
    ):
        ours_s, ours_cpu, ours_mb = measure(ours, args.repeats)
        naive_s, naive_cpu, naive_mb = measure(naive, args.repeats)
        results.append((stage, ours_s / minutes, naive_s / minutes, ours_cpu / minutes,
                        naive_cpu / minutes, ours_mb, naive_mb))  # fmt: skip
        print(f"  {stage}: {ours_s / minutes:.3f} s/min wall, {ours_cpu / minutes:.3f} CPU "
              f"(naive {naive_s / minutes:.3f} wall, {naive_cpu / minutes:.3f} CPU)",
              flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        if args.audio:
            tracks = [Path(p) for p in args.audio]
        else:
            tracks = [Path(p) for p in sorted(glob.glob(DEBIAN_MUSIC_GLOB))
                      if Path(p).stat().st_size > 3_000_000][: args.tracks]  # fmt: skip
        if not tracks:
            tracks = [synthetic_track(tmp_dir / "synthetic.mp3", args.seconds)]
        video = synthetic_video(tmp_dir / "video.mp4", args.seconds)

        # Warm-up: filter banks, numba kernels, imports.
        warm = load_audio(tracks[0], audio_x.sample_rate, max_duration_s=None)[: 5 * 22050]
        audio_x.extract(warm, audio_x.sample_rate)
        naive_audio_features(warm, audio_x.sample_rate)

        total_minutes = sum(probe(t).duration_s for t in tracks) / 60
        print(f"audio: {len(tracks)} track(s), {total_minutes:.2f} min: "
              + ", ".join(t.name for t in tracks))  # fmt: skip
        signals = [load_audio(t, audio_x.sample_rate) for t in tracks]
        compare("decode audio (22.05 kHz mono)", total_minutes,
                lambda: [load_audio(t, 22050) for t in tracks],
                lambda: [librosa.load(t, sr=22050) for t in tracks])  # fmt: skip
        compare("audio/handcrafted", total_minutes,
                lambda: [audio_x.extract(y, 22050) for y in signals],
                lambda: [naive_audio_features(y, 22050) for y in signals])  # fmt: skip

        video_minutes = probe(video).duration_s / 60
        print(f"video: synthetic, {video_minutes:.2f} min, 320x180 at 25 fps")
        rate, size = video_x.frame_rate, video_x.frame_size
        frames = load_video_frames(video, rate, *size)
        compare(f"decode video ({rate:g} fps, {size[0]}x{size[1]})", video_minutes,
                lambda: load_video_frames(video, rate, *size),
                lambda: naive_video_frames(video, rate, size))  # fmt: skip
        compare("video/handcrafted", video_minutes,
                lambda: video_x.extract(frames, rate),
                lambda: naive_video_features(frames, rate))  # fmt: skip
        # The baselines must compute the same thing for the ratio to mean anything.
        np.testing.assert_allclose(naive_video_features(frames, rate), video_x.extract(frames, rate),
                                   rtol=1e-4, atol=1e-5)  # fmt: skip

    print()
    print("Seconds of processing per minute of media (wall clock / CPU incl. ffmpeg):")
    print("| stage | ours wall | naive wall | wall speed-up | ours CPU | naive CPU | CPU speed-up "
          "| ours peak MiB | naive peak MiB |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for stage, ours, naive, ours_cpu, naive_cpu, ours_mb, naive_mb in results:
        print(
            f"| {stage} | {ours:.3f} | {naive:.3f} | {naive / ours:.1f}x | {ours_cpu:.3f} "
            f"| {naive_cpu:.3f} | {naive_cpu / ours_cpu:.1f}x | {ours_mb:.0f} | {naive_mb:.0f} |"
        )


if __name__ == "__main__":
    main()
