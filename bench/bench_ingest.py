"""Benchmark: ingestion of 3-minute tracks, per stage and end to end, against the old analysis.

    python -m bench ingest [--tracks 3] [--seconds 180]
    python -m bench.bench_ingest [--tracks 3] [--seconds 180] [--workers 1]

1. ``--tracks`` generated songs (:mod:`ml.synth`: sections in other keys, timbres and
   tempi, drums, known structure) of about ``--seconds``, written as AAC (``.m4a``),
   as a catalog upload would be.
2. **End to end**: the tracks uploaded to the real service (the API under uvicorn on
   loopback, the embedded default: SQLite, ``--workers`` in-process job threads, the
   analysis's downbeat process) whose active model is a Seg-VM-Net reading the default
   audio features (random weights: the cost of ingestion does not depend on what they
   learned); MusiCNN tags every track, in the features' pass when they include it.
   Tracks per minute from the first upload to the last finished job.
3. **Per stage**: each track analysed again stage by stage in this process, with the
   functions ingestion calls (CPU seconds of this process, its ONNX Runtime threads
   included, and wall seconds), one after the other. The stages the analysis does in
   its downbeat process are marked; the others run in the job's thread. The two stages
   that were rewritten are also run the old way, on the same tracks: madmom's own
   ``RNNDownBeatProcessor`` (its LSTMs stepped in Python) and ``librosa.effects.hpss``
   (SciPy's median filters); the old column is the sum with those.
4. **Before and after**: what the service stored for each track (music segments, beats,
   downbeats, tempo, the 1 Hz features) against the old analysis of the same decoded
   audio: segments, beats and features are compared exactly, the downbeat activations
   by their largest difference.

Everything is written under ``var/bench-ingest``.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import select

from app.db.models import Track, TrackAnalysis, TrackFeatures
from app.db.session import session_scope
from app.migrate import upgrade
from app.services.ingest import EmbeddedTrack, save_embedded_track
from app.services.models import ServingModels, active_model, register_model
from app.settings import Settings
from bench.bench_query import build_model
from cli.demo import LocalServer, upload_track, wait_for_jobs
from ml.features import DEFAULT_AUDIO_EXTRACTOR
from ml.features.registry import get_extractor
from ml.media import beats as beats_module
from ml.media import structure as structure_module
from ml.media.beats import _rnn_processor, decode_downbeats, downbeat_activations
from ml.media.structure import (
    ANALYSIS_SAMPLE_RATE,
    merge_short_segments,
    msaf_boundaries_all,
    structure_features,
)
from ml.pipeline.analysis import (
    DEFAULT_MIN_SEGMENT_S,
    analysis_rate_features_and_tags,
    to_analysis_rate,
)
from ml.pipeline.analysis import (
    TrackAnalysis as Analysis,
)
from ml.pipeline.track import TAGGER, AnalysedTrack, decode_soundtrack
from ml.synth.clip import ClipSpec, generate_clip
from ml.synth.io import write_audio

WORK = Path("var/bench-ingest")
SEGMENTER = "olda"  # the default music segmenter (ml.export.common.DEFAULT_MUSIC_SEGMENTER)
#: Stages run in the analysis's downbeat process, beside the others.
IN_DOWNBEAT_PROCESS = {"downbeat activations (madmom RNN)", "downbeat decoding (DBN)"}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children, ended (ffmpeg) or
    running (the downbeat process; read from ``/proc``, Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = 0.0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or it ended meanwhile
        if int(fields[1]) == os.getpid():  # fields[1] is the parent's id
            running += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime + running


def generate_tracks(folder: Path, n: int, seconds: float) -> list[Path]:
    """``n`` generated songs of ``seconds`` (+- 3%) as ``.m4a`` files (cached)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = ClipSpec(min_duration_s=0.97 * seconds, max_duration_s=1.03 * seconds, sr=44100)
    paths = []
    for i in range(n):
        path = folder / f"song-{seconds:g}s-{i}.m4a"
        if not path.exists():
            clip = generate_clip(1000 + i, spec)
            write_audio(path, clip.audio, clip.sr)
        paths.append(path)
    return paths


class _MadmomActivations:
    """The old downbeat stage: madmom's processor on the signal, its LSTMs in Python."""

    def activations(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(_rnn_processor()(y), dtype=np.float32)


@contextmanager
def old_analysis():
    """The analysis as it was: librosa's HPSS in MSAF's features, madmom's own network."""
    import librosa

    saved = structure_module.hpss, beats_module._network
    structure_module.hpss = librosa.effects.hpss
    beats_module._network = _MadmomActivations
    try:
        yield
    finally:
        structure_module.hpss, beats_module._network = saved


class Clock:
    """Wall and CPU seconds per stage, summed over tracks."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def run(self, stage: str, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.wall[stage] += time.perf_counter() - wall
        self.cpu[stage] += time.process_time() - cpu
        return out


def analyse_by_stage(path: Path, model, new: Clock, old: Clock) -> dict:
    """One track, stage by stage, the new way (``new``) and the two rewritten stages the
    old way (``old``); returns what the comparison needs."""
    y = new.run("decode (ffmpeg, 44.1 kHz)", lambda: decode_soundtrack(path))
    y22 = new.run("resample to 22.05 kHz", lambda: to_analysis_rate(y))
    structure = new.run(
        "MSAF features (HPSS, CQT, MFCC, beats)",
        lambda: structure_features(y22, ANALYSIS_SAMPLE_RATE),
    )
    with old_analysis():
        old_structure = old.run(
            "MSAF features (HPSS, CQT, MFCC, beats)",
            lambda: structure_features(y22, ANALYSIS_SAMPLE_RATE),
        )
    boundaries = new.run(
        "MSAF segmentation (olda)",
        lambda: merge_short_segments(
            msaf_boundaries_all(structure, (SEGMENTER,))[SEGMENTER], DEFAULT_MIN_SEGMENT_S
        ),
    )
    old_boundaries = merge_short_segments(
        msaf_boundaries_all(old_structure, (SEGMENTER,))[SEGMENTER], DEFAULT_MIN_SEGMENT_S
    )
    activations = new.run(
        "downbeat activations (madmom RNN)", lambda: downbeat_activations(y, 44100)
    )
    with old_analysis():
        old_activations = old.run(
            "downbeat activations (madmom RNN)", lambda: downbeat_activations(y, 44100)
        )
    beats = new.run("downbeat decoding (DBN)", lambda: decode_downbeats(activations))
    old_beats = decode_downbeats(old_activations)
    extractor = get_extractor(DEFAULT_AUDIO_EXTRACTOR, "audio")
    parts = []
    for part in getattr(extractor, "parts", [extractor]):
        parts.append(
            new.run(
                f"features: {part.name}", lambda p=part: analysis_rate_features_and_tags(y22, p)
            )
        )
    features = np.concatenate([f[: min(len(x) for x, _ in parts)] for f, _ in parts], axis=1)
    tags = next((t for _, t in parts if t is not None), None)
    if tags is None:  # the tagger in a pass of its own, as ingestion runs it
        tagger = get_extractor(TAGGER, "audio")
        _, tags = new.run(
            f"tags: {tagger.name}", lambda: analysis_rate_features_and_tags(y22, tagger)
        )
    analysis = Analysis(
        duration_s=len(y) / 44100,
        boundaries_s={SEGMENTER: boundaries},
        beats=beats,
        features={extractor.spec.key: features},
        extractors=(extractor.spec,),
        tags=tags,
    )
    track = AnalysedTrack(analysis, y, features.astype(np.float32), boundaries)
    embeddings = new.run("embedding (music branch)", lambda: model.embed_analysed_track(track))
    return {
        "analysis": analysis,
        "embeddings": embeddings,
        "features": features,
        "old_boundaries": old_boundaries,
        "old_beats": old_beats,
        "structure_equal": all(
            np.array_equal(getattr(structure, f), getattr(old_structure, f))
            for f in ("pcp", "mfcc", "beats_s", "pcp_beatsync", "mfcc_beatsync")
        ),
        "activation_diff": float(np.abs(activations - old_activations).max()),
    }


def ingest(client, tracks: list[Path]) -> tuple[float, dict[str, int]]:
    """Upload ``tracks`` to the service; seconds until every job finished, and each
    file's track id."""
    started = time.perf_counter()
    added = {t.name: upload_track(client, t, {"title": t.stem}) for t in tracks}
    done = wait_for_jobs(client, [a["job_id"] for a in added.values()])
    elapsed = time.perf_counter() - started
    failed = [j for j in done if j["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"ingestion failed: {failed[0]}")
    return elapsed, {name: a["track_id"] for name, a in added.items()}


def stored(db, track_id: int, extractor_name: str) -> tuple[TrackAnalysis, np.ndarray]:
    analysis = db.scalar(
        select(TrackAnalysis).where(
            TrackAnalysis.track_id == track_id, TrackAnalysis.segmenter == SEGMENTER
        )
    )
    features = db.scalar(
        select(TrackFeatures).where(
            TrackFeatures.track_id == track_id, TrackFeatures.extractor == extractor_name
        )
    )
    return analysis, features.array()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=1, help="in-process job threads")
    args = parser.parse_args()

    tracks = generate_tracks(WORK / "tracks", args.tracks, args.seconds)
    warm = generate_tracks(WORK / "warm", 1, 20.0)
    run = WORK / f"run-{int(time.time())}"
    model_dir = build_model(run / "model", "handcrafted", audio_extractor=DEFAULT_AUDIO_EXTRACTOR)
    settings = Settings(data_dir=run / "data", inprocess_workers=args.workers)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, model_dir, settings.model_dir, activate=True)
    audio_s = sum(len(decode_soundtrack(t)) / 44100 for t in tracks)

    with LocalServer(settings) as client:
        ingest(client, warm)  # loads the networks, starts the downbeat process, compiles
        load_before, cpu_before = os.getloadavg()[0], cpu_seconds()
        elapsed, ids = ingest(client, tracks)
        cpu = cpu_seconds() - cpu_before
    cpu /= len(tracks)
    print(
        f"End to end through the service ({args.workers} job thread(s), {len(tracks)} tracks "
        f"of {audio_s / len(tracks):.0f} s): {elapsed:.1f} s, {elapsed / len(tracks):.1f} s "
        f"per track = {60 * len(tracks) / elapsed:.2f} tracks per minute (goal >= 3); "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
        f"{os.cpu_count()} cores"
    )
    print(
        f"CPU per track, the service's process and its children (downbeat process, "
        f"ffmpeg): {cpu:.1f} s = {60 * os.cpu_count() / cpu:.2f} tracks per minute if "
        f"this machine's {os.cpu_count()} cores were all busy ingesting"
    )

    new, old = Clock(), Clock()
    with session_scope(settings.sqlalchemy_url) as db:
        model = ServingModels("cpu").get(active_model(db))
    analyse_by_stage(warm[0], model, Clock(), Clock())  # compile, load, outside the clocks
    checks = []
    for path in tracks:
        result = analyse_by_stage(path, model, new, old)
        old_beats = result["old_beats"]
        with session_scope(settings.sqlalchemy_url) as db:
            row, features = stored(db, ids[path.name], DEFAULT_AUDIO_EXTRACTOR)
            checks.append(
                (
                    path.name,
                    np.array_equal(row.boundaries_s(), result["old_boundaries"].astype(np.float32)),
                    np.array_equal(row.beats_s(), old_beats.beats_s.astype(np.float32))
                    and np.array_equal(row.downbeats_s(), old_beats.downbeats_s.astype(np.float32))
                    and row.beats_per_bar == old_beats.beats_per_bar,
                    np.array_equal(features, result["features"].astype(np.float32)),
                    result["structure_equal"],
                    result["activation_diff"],
                    len(row.boundaries_s()) - 1,
                    len(row.beats_s()),
                )
            )
        with session_scope(settings.sqlalchemy_url) as db:
            track = db.get(Track, ids[path.name])
            embedded = EmbeddedTrack(result["analysis"], result["features"], result["embeddings"])
            new.run(
                "database write (one transaction)",
                lambda db=db, track=track, embedded=embedded: (
                    save_embedded_track(db, track, model, embedded),
                    db.commit(),
                ),
            )
    _print_tables(new, old, len(tracks), audio_s / len(tracks))
    print("\nStored by the service vs the old analysis of the same audio:")
    print(
        "| track | segments | beats | segments equal | beats, downbeats, meter equal | 1 Hz features equal | MSAF features equal | activations max diff |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, seg, bts, feats, struct, diff, n_seg, n_beats in checks:
        print(
            f"| {name} | {n_seg} | {n_beats} | {_yes(seg)} | {_yes(bts)} | {_yes(feats)} | "
            f"{_yes(struct)} | {diff:.1e} |"
        )


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _print_tables(new: Clock, old: Clock, n: int, seconds: float) -> None:
    total_new = sum(new.cpu.values())
    total_old = sum(old.cpu.get(s, v) for s, v in new.cpu.items())
    print(
        f"\nPer stage, one track after another in one process, s per track of {seconds:.0f} s "
        f"(mean of {n}; CPU of this process incl. ONNX Runtime's threads):"
    )
    print("| stage | where | old CPU s | new CPU s | new wall s | share of new CPU | old / new |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for stage, cpu in new.cpu.items():
        before = old.cpu.get(stage, cpu)
        where = "downbeat process" if stage in IN_DOWNBEAT_PROCESS else "job thread"
        print(
            f"| {stage} | {where} | {before / n:.2f} | {cpu / n:.2f} | {new.wall[stage] / n:.2f} | "
            f"{100 * cpu / total_new:.1f}% | {before / cpu:.1f}x |"
        )
    print(
        f"| total | | {total_old / n:.1f} | {total_new / n:.1f} | {sum(new.wall.values()) / n:.1f} | "
        f"100% | {total_old / total_new:.2f}x |"
    )


if __name__ == "__main__":
    main()
