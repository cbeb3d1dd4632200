"""Build a corpus of music videos: plan the excerpts, render each clip, write the truth.

Layout of a corpus folder::

    DIR/corpus.json          world, seed and rendering settings (a later build must match)
    DIR/train/<clip>.mp4     H.264 + AAC; also DIR/val/, DIR/test/
    DIR/train/<clip>.json    the clip's truth (written after its mp4: it marks it done)
    DIR/truth.json           every planned clip's truth, in plan order

A clip whose mp4 and json both exist is skipped, so an interrupted build resumes
where it stopped and a larger ``n_clips`` extends a corpus (the plan for fewer clips
is a prefix of the plan for more). Everything random is drawn from generators
seeded by the corpus seed and the clip's name, so the same seed gives the same
corpus, whatever the number of worker processes.

Times in the truth are seconds from the start of the clip, except ``start`` and
``end`` of the excerpt, which are seconds into the source recording.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np

from ml.corpora import music, rules_cutter, rules_painter
from ml.corpora.encode import write_mp4
from ml.corpora.excerpts import Excerpt, plan_excerpts, seeded_rng
from ml.corpora.sources import find_recordings, read_excerpt
from ml.media.decode import probe

__all__ = ["FPS", "SIZE", "WORLDS", "build_corpus", "clip_paths", "render_clip"]

#: The worlds, by name: each module has ``make_clip(y, fps, size, rng)``.
WORLDS: dict[str, ModuleType] = {"b": rules_cutter, "c": rules_painter}
FPS = 25.0
SIZE = (192, 108)
#: An excerpt whose peak stays below this (-60 dBFS) is silence: no clip is made.
SILENT_PEAK = 1e-3
_VERSION = 1


def clip_paths(out: Path, excerpt: Excerpt) -> tuple[Path, Path]:
    """The mp4 and truth json of a clip."""
    folder = Path(out) / excerpt.split
    return folder / f"{excerpt.clip_id}.mp4", folder / f"{excerpt.clip_id}.json"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def render_clip(
    out: Path,
    excerpt: Excerpt,
    world: str,
    seed: int,
    fps: float = FPS,
    size: tuple[int, int] = SIZE,
) -> dict:
    """Render one clip into ``out`` (mp4, then its json) and return its truth."""
    mp4, sidecar = clip_paths(out, excerpt)
    rec = excerpt.recording
    audio, sr = read_excerpt(rec, excerpt.start_s, excerpt.duration_s)
    truth = {
        "clip_id": excerpt.clip_id,
        "split": excerpt.split,
        "file": f"{excerpt.split}/{mp4.name}",
        "world": world,
        "recording_id": rec.id,
        "package": rec.package,
        "source_package": rec.source,
        "recording": rec.path + (f"::{rec.member}" if rec.member else ""),
        "licence": rec.licence,
        "excerpt_index": excerpt.index,
        "start": excerpt.start_s,
        "end": excerpt.end_s,
        "duration": excerpt.duration_s,
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "n_frames": round(excerpt.duration_s * fps),
    }
    mp4.parent.mkdir(parents=True, exist_ok=True)
    if float(np.abs(audio).max(initial=0.0)) < SILENT_PEAK:
        truth["skipped"] = "silent excerpt"
    else:
        rng = seeded_rng("world", world, seed, excerpt.clip_id)
        frames, rules = WORLDS[world].make_clip(music.to_analysis_signal(audio, sr), fps, size, rng)
        write_mp4(mp4, frames, fps, size, audio, sr)
        _verify(mp4, truth)
        truth |= rules
    _write_json(sidecar, truth)
    return truth


def _verify(mp4: Path, truth: dict) -> None:
    """The service's own decoder must read the clip back as written."""
    info = probe(mp4)
    problems = []
    if (info.video_codec, info.audio_codec) != ("h264", "aac"):
        problems.append(f"codecs {info.video_codec}/{info.audio_codec}")
    if (info.width, info.height) != (truth["width"], truth["height"]):
        problems.append(f"size {info.width}x{info.height}")
    if abs(info.duration_s - truth["duration"]) > 0.1:
        problems.append(f"duration {info.duration_s:.3f} s")
    if problems:
        mp4.unlink(missing_ok=True)
        raise RuntimeError(f"{mp4.name} does not read back as written: {', '.join(problems)}")


def _render_job(args: tuple) -> tuple[str, float]:
    import time

    start = time.monotonic()
    truth = render_clip(*args)
    return truth["clip_id"], time.monotonic() - start


def _check_settings(out: Path, settings: dict) -> None:
    path = out / "corpus.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != settings:
            changed = sorted(
                k for k in settings.keys() | old.keys() if old.get(k) != settings.get(k)
            )
            raise ValueError(
                f"{out} holds a corpus built with other settings ({', '.join(changed)}): "
                "use another folder, or the same settings to extend it"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(path, settings)


def build_corpus(
    out: str | os.PathLike[str],
    world: str,
    n_clips: int | None,
    seed: int = 0,
    *,
    packages: list[str] | None = None,
    fps: float = FPS,
    size: tuple[int, int] = SIZE,
    min_len_s: float = 20.0,
    max_len_s: float = 60.0,
    max_per_recording: int = 3,
    jobs: int = 1,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Build (or resume, or extend) a corpus; returns the content of ``truth.json``.

    Parameters
    ----------
    out : path
        The corpus folder (see the module docstring).
    world : str
        A key of :data:`WORLDS`.
    n_clips : int or None
        How many excerpts to plan (``None``: all the installed recordings give).
    seed : int
        Chooses the excerpts and all of the world's randomness.
    packages : list of str or None
        Source packages (keys of :data:`ml.corpora.sources.PACKAGES`); ``None``
        means all installed. The packages are part of the corpus settings.
    jobs : int
        Worker processes (the result does not depend on it).
    """
    if world not in WORLDS:
        raise KeyError(f"unknown world {world!r}; one of {sorted(WORLDS)}")
    out = Path(out)
    settings = {
        "version": _VERSION,
        "world": world,
        "seed": int(seed),
        "fps": fps,
        "size": list(size),
        "min_len_s": min_len_s,
        "max_len_s": max_len_s,
        "max_per_recording": max_per_recording,
        "packages": sorted(packages) if packages is not None else "all installed",
    }
    _check_settings(out, settings)
    recordings = find_recordings(packages)
    plan = plan_excerpts(
        recordings,
        seed,
        n_clips,
        min_len_s=min_len_s,
        max_len_s=max_len_s,
        max_per_recording=max_per_recording,
        fps=fps,
    )
    todo = [e for e in plan if not all(p.exists() for p in clip_paths(out, e))]
    if log:
        log(
            f"world {world}, seed {seed}: {len(plan)} clips planned from {len(recordings)} "
            f"recordings, {len(plan) - len(todo)} already built, {len(todo)} to render"
        )
    jobs_args = [(out, e, world, seed, fps, size) for e in todo]
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for k, (clip, secs) in enumerate(pool.map(_render_job, jobs_args), 1):
                if log:
                    log(f"[{k}/{len(todo)}] {clip} ({secs:.1f} s)")
    else:
        for k, args in enumerate(jobs_args, 1):
            clip, secs = _render_job(args)
            if log:
                log(f"[{k}/{len(todo)}] {clip} ({secs:.1f} s)")
    clips = [json.loads(clip_paths(out, e)[1].read_text()) for e in plan]
    truth = settings | {
        "clips": [c for c in clips if "skipped" not in c],
        "skipped": [
            {"clip_id": c["clip_id"], "reason": c["skipped"]} for c in clips if "skipped" in c
        ],
    }
    _write_json(out / "truth.json", truth)
    return truth
