"""A corpus of synthetic music videos on disk, with a JSON manifest.

Layout of ``out_dir``::

    corpus.json            the parameters (seed, spec, formats); fixed once written
    videos/clip_00000.mp4  H.264 + AAC music video
    tracks/clip_00000.flac the same music alone, for catalog ingestion
    truth/clip_00000.json  ground truth of the clip, written last
    manifest.json          all of the above, rebuilt at the end of every run

A clip counts as done when its truth file exists (media are renamed into
place before it is written), so an interrupted run resumes where it stopped
and a finished one returns at once. Clip ``i``'s seed depends only on the
corpus seed and ``i``: growing ``n_clips`` later adds clips and keeps the
first ones.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ml.synth.clip import ClipSpec, generate_clip
from ml.synth.errors import SynthSpecError
from ml.synth.io import write_audio, write_video

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
PARAMS_NAME = "corpus.json"


@dataclass(frozen=True)
class ClipRecord:
    """One clip of a manifest: where its files are and what is true of it.

    Paths are relative to the corpus directory; ``truth`` is
    :class:`ml.synth.clip.ClipTruth` as a dict (boundaries, labels, beats,
    tempo, meter, styles, tags).
    """

    clip_id: str
    index: int
    seed: int
    video: str
    track: str | None
    truth: dict

    @property
    def tags(self) -> dict[str, float]:
        return self.truth["tags"]

    @property
    def duration_s(self) -> float:
        return self.truth["duration_s"]


@dataclass
class Manifest:
    """The corpus: its parameters and its clips, in index order."""

    seed: int
    spec: dict
    track_format: str | None
    clips: list[ClipRecord] = field(default_factory=list)
    root: Path | None = field(default=None, compare=False)
    version: int = MANIFEST_VERSION

    def __len__(self) -> int:
        return len(self.clips)

    def __iter__(self) -> Iterator[ClipRecord]:
        return iter(self.clips)

    def path(self, relative: str) -> Path:
        """Absolute path of a file named in a record (needs ``root``)."""
        if self.root is None:
            raise ValueError("this manifest has no root directory")
        return self.root / relative

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "seed": self.seed,
            "spec": self.spec,
            "track_format": self.track_format,
            "clips": [asdict(c) for c in self.clips],
        }

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        _write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Manifest:
        """Read a manifest; ``path`` is the file or the corpus directory."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_NAME
        data = json.loads(path.read_text())
        if data.get("version") != MANIFEST_VERSION:
            raise SynthSpecError(f"unsupported manifest version {data.get('version')!r} in {path}")
        return cls(
            seed=data["seed"],
            spec=data["spec"],
            track_format=data["track_format"],
            clips=[ClipRecord(**c) for c in data["clips"]],
            root=path.parent,
        )


def _write_json(path: Path, data: dict) -> None:
    # Write then rename: readers never see half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def clip_seed(corpus_seed: int, index: int) -> int:
    """The seed of clip ``index``: independent streams, stable under growth."""
    state = np.random.SeedSequence(int(corpus_seed), spawn_key=(int(index),)).generate_state(
        1, np.uint64
    )
    return int(state[0] >> np.uint64(1))  # 63 bits: a non-negative int64 everywhere


def clip_id(index: int) -> str:
    return f"clip_{index:05d}"


def _write_clip(
    out_dir: Path,
    index: int,
    corpus_seed: int,
    spec: ClipSpec,
    track_format: str | None,
    encoder_threads: int,
) -> dict:
    """Generate clip ``index`` and write its media, then its truth file."""
    seed = clip_seed(corpus_seed, index)
    clip = generate_clip(seed, spec)
    cid = clip_id(index)
    video = f"videos/{cid}.mp4"
    write_video(
        out_dir / video, clip.iter_frames(), spec.fps, clip.audio, spec.sr, threads=encoder_threads
    )
    track = None
    if track_format is not None:
        track = f"tracks/{cid}.{track_format}"
        write_audio(out_dir / track, clip.audio, spec.sr)
    record = ClipRecord(
        clip_id=cid, index=index, seed=seed, video=video, track=track, truth=clip.truth.to_dict()
    )
    _write_json(out_dir / "truth" / f"{cid}.json", asdict(record))
    return asdict(record)


def _write_clip_star(args: tuple) -> dict:
    return _write_clip(*args)


def generate_corpus(
    out_dir: str | os.PathLike,
    n_clips: int,
    seed: int,
    *,
    min_duration_s: float = 20.0,
    max_duration_s: float = 40.0,
    workers: int = 1,
    spec: ClipSpec | None = None,
    track_format: str | None = "flac",
    progress: bool = False,
) -> Manifest:
    """Write ``n_clips`` synthetic music videos to ``out_dir``; return the manifest.

    Clips already written are skipped, so the call is resumable and
    idempotent. ``spec`` overrides the other clip parameters (its durations
    win over ``min_duration_s``/``max_duration_s``). ``track_format`` is the
    extension of the audio-only tracks (``"flac"``, ``"wav"``, ``"m4a"``...)
    or ``None`` for none. ``workers > 1`` uses that many processes.

    Raises :class:`SynthSpecError` for bad parameters, including parameters
    that differ from those of a corpus already in ``out_dir``.
    """
    if n_clips < 1:
        raise SynthSpecError(f"n_clips must be positive, got {n_clips}")
    if workers < 1:
        raise SynthSpecError(f"workers must be positive, got {workers}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SynthSpecError(f"seed must be a non-negative integer, got {seed!r}")
    if track_format is not None and (not track_format.isalnum() or track_format.lower() == "mp4"):
        raise SynthSpecError(f"track_format must be an audio file extension, got {track_format!r}")
    spec = spec or ClipSpec(min_duration_s=min_duration_s, max_duration_s=max_duration_s)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    params = {
        "version": MANIFEST_VERSION,
        "seed": int(seed),
        "spec": spec.to_dict(),
        "track_format": track_format,
    }
    params_path = out / PARAMS_NAME
    if params_path.exists():
        existing = json.loads(params_path.read_text())
        if existing != params:
            raise SynthSpecError(
                f"{out} holds a corpus made with other parameters ({existing}); "
                "use another directory or the same parameters"
            )
    else:
        _write_json(params_path, params)

    todo = [i for i in range(n_clips) if not (out / "truth" / f"{clip_id(i)}.json").exists()]
    encoder_threads = 1 if workers > 1 else 0
    jobs = [(out, i, int(seed), spec, track_format, encoder_threads) for i in todo]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_clips, initial=n_clips - len(todo), unit="clip", desc="synth corpus")
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                _write_clip(*job)
                if bar is not None:
                    bar.update()
        else:
            # "spawn": workers must not inherit locks or threads of the parent.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                for _ in pool.map(_write_clip_star, jobs):
                    if bar is not None:
                        bar.update()
    finally:
        if bar is not None:
            bar.close()

    records = [
        ClipRecord(**json.loads((out / "truth" / f"{clip_id(i)}.json").read_text()))
        for i in range(n_clips)
    ]
    manifest = Manifest(
        seed=int(seed), spec=spec.to_dict(), track_format=track_format, clips=records, root=out
    )
    manifest.save(out / MANIFEST_NAME)
    return manifest
