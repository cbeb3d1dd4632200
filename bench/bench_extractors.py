"""Benchmark: which frame features make the best Seg-VM-Net (docs/method.md §7, third table).

A controlled comparison: the same synthetic clips, the same OLDA segments, the same
train / validation / test split and the same training recipe for every row; only the
1 Hz frame features change. Each extractor runs once per clip (cached on disk), and a
concatenation (``handcrafted+musicnn``) is the side-by-side rows of its parts, exactly
as :func:`ml.features.registry.get_extractor` serves it.

For every audio x video pair it trains a Seg-VM-Net (early stopping on the validation
mean rank) and evaluates it on the test clips in the vanilla scenario, then prints and
writes a table of mean ranks per cost, and the extraction cost of each extractor in
seconds of CPU per minute of media (measured on the clips it extracts in this run).

    python -m bench.bench_extractors --work var/evaluation --results bench/results

``--work`` is shared with :mod:`bench.bench_evaluation` (its corpus and its OLDA
dataset, which hold the segments, the split and the handcrafted features) and resumes.
``--videos DIR`` makes the same comparison on a folder of your own music videos (any
container ffmpeg reads) instead of the synthetic corpus; give it a ``--work`` of its own::

    python -m bench.bench_extractors --videos ~/music-videos --work var/my-videos
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from bench.bench_data_size import nested_training_subset
from bench.bench_evaluation import SPLIT_FRACTIONS, build_all
from ml.data.clips import FRAME_RATE_HZ, FrameFeatures, pair_segments
from ml.data.dataset import (
    ClipEntry,
    ClipRecord,
    DatasetManifest,
    ExtractorInfo,
    load_dataset,
    save_clip_record,
    write_manifest,
)
from ml.evaluation.experiment import evaluate_checkpoint
from ml.evaluation.protocol import COST_LABELS
from ml.features.registry import CONCATENATION, FeatureExtractor, get_extractor
from ml.media.decode import load_audio, load_video_frames, probe
from ml.synth.corpus import generate_corpus
from ml.training.config import TrainConfig
from ml.training.trainer import train

DEFAULT_AUDIO = ("handcrafted", "musicnn", "handcrafted+musicnn")
DEFAULT_VIDEO = ("handcrafted", "transnet")
COSTS = ("centroid", "single", "complete", "nw_dtw", "sw_dtw", "trace", "best_trace")


def extract(extractor: FeatureExtractor, video: Path) -> np.ndarray:
    """One extractor's 1 Hz rows for one clip's soundtrack or picture."""
    if extractor.modality == "audio":
        rate = int(extractor.sample_rate)
        return extractor.extract(load_audio(video, sr=rate), rate)
    width, height = extractor.frame_size
    frames = load_video_frames(video, extractor.frame_rate, width, height)
    return extractor.extract(frames, extractor.frame_rate or probe(video).fps)


class FrameCache:
    """Each (extractor, clip) computed once, kept as ``.npy``; the OLDA dataset's own
    frames seed the cache of the extractors it was built with."""

    def __init__(self, root: Path, base: dict[str, ClipRecord], base_extractors: dict[str, str]):
        self.root, self.base, self.base_extractors = root, base, base_extractors
        self.seconds: dict[str, float] = {}
        self.media_s: dict[str, float] = {}

    def rows(self, modality: str, name: str, clip_id: str, video: Path) -> np.ndarray:
        if CONCATENATION in name:
            parts = [
                self.rows(modality, part, clip_id, video) for part in name.split(CONCATENATION)
            ]
            n = min(len(p) for p in parts)
            return np.concatenate([p[:n] for p in parts], axis=1)
        if self.base_extractors[modality] == name:
            record = self.base[clip_id]
            return record.music_frames if modality == "audio" else record.video_frames
        extractor = get_extractor(name, modality)  # type: ignore[arg-type]
        path = self.root / f"{modality}-{name}-{extractor.version}" / f"{clip_id}.npy"
        if path.exists():
            return np.load(path)
        began = time.process_time()
        rows = extract(extractor, video)
        key = f"{modality}/{name}"
        self.seconds[key] = self.seconds.get(key, 0.0) + time.process_time() - began
        self.media_s[key] = self.media_s.get(key, 0.0) + self.base[clip_id].duration_s
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, rows.astype(np.float32))
        return rows

    def cost_per_minute(self) -> dict[str, float]:
        return {k: 60.0 * self.seconds[k] / self.media_s[k] for k in self.seconds}


def _info(name: str, modality: str) -> ExtractorInfo:
    spec = get_extractor(name, modality).spec  # type: ignore[arg-type]
    return ExtractorInfo(spec.name, spec.version, spec.modality, int(spec.dim))


def build_pair_dataset(
    base_dir: Path,
    videos: Path,
    out: Path,
    audio: str,
    video: str,
    cache: FrameCache,
    train_fraction: float = 1.0,
) -> Path:
    """The OLDA dataset with its frames replaced by ``audio`` and ``video`` rows (and
    only the first ``train_fraction`` of its training clips)."""
    base = load_dataset(base_dir)
    if (out / "manifest.json").exists():
        return out
    entries = []
    for entry in nested_training_subset(base.manifest.clips, train_fraction):
        record = cache.base[entry.clip_id]
        source = videos / entry.source
        music = cache.rows("audio", audio, entry.clip_id, source)
        picture = cache.rows("video", video, entry.clip_id, source)
        n = min(len(music), len(picture), len(record.music_frames))
        features = FrameFeatures(music[:n], picture[:n], record.duration_s)
        paired = pair_segments(entry.clip_id, features, record.boundaries_s, min_segment_s=0.0)
        if not np.allclose(paired.boundaries_s, record.boundaries_s):
            raise RuntimeError(f"{entry.clip_id}: segments moved while swapping features")
        save_clip_record(out / entry.file, paired, {"audio": audio, "video": video})
        entries.append(entry)
    manifest = DatasetManifest(
        segmentation=base.manifest.segmentation,
        audio_extractor=_info(audio, "audio"),
        video_extractor=_info(video, "video"),
        clips=[ClipEntry(**asdict(e)) for e in entries],
        split_seed=base.manifest.split_seed,
        split_fractions=base.manifest.split_fractions,
        versions={**base.manifest.versions, "features_from": "bench_extractors"},
    )
    write_manifest(out, manifest)
    return out


def train_and_evaluate(dataset: Path, out: Path, args: argparse.Namespace) -> dict:
    config = TrainConfig(
        "segvmnet", dataset, out / "run", recipe="triplet", max_epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.learning_rate, monitor="val_mean_rank", device=args.device,
        seed=args.training_seed, progress=False,
    )  # fmt: skip
    best = train(config)
    log = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    report = evaluate_checkpoint(dataset, best, methods=COSTS, scenarios=("vanilla",))
    scores = report.segment_level["vanilla"]
    return {
        "best_epoch": log[-1]["best_epoch"],
        "val_mean_rank": log[log[-1]["best_epoch"]]["val_mean_rank"],
        "n_clips": report.n_clips,
        "mean_rank": {m: scores[m].mean_rank for m in COSTS},
        "ci95": {m: list(scores[m].rank_ci95) for m in COSTS},
        "recall": {m: {str(k): v for k, v in scores[m].recall.items()} for m in COSTS},
    }


def markdown(rows: dict[tuple[str, str], dict], costs: dict[str, float], setup: dict) -> str:
    n = next(iter(rows.values()))["n_clips"]
    lines = [
        f"# Frame features for Seg-VM-Net, compared (OLDA segments, {setup['material']})",
        "",
        (
            f"Produced by `python -m bench.bench_extractors {setup['command']}`. Same clips, "
            f"segments, split and recipe for every row ({setup['recipe']}); "
            f"{setup['training_clips']} training clips; test catalog C = {n}, "
            f"chance = {(n + 1) / 2:.1f}. Mean rank of the correct track (lower is better)."
        ),
        "",
        "| audio | video | dims | " + " | ".join(COST_LABELS[m] for m in COSTS) + " | R@1 NW-DTW |",
        "| --- | --- | --- | " + " | ".join("---" for _ in COSTS) + " | --- |",
    ]
    best = min(rows, key=lambda k: rows[k]["mean_rank"]["nw_dtw"])
    for (audio, video), r in rows.items():
        dims = f"{_info(audio, 'audio').dim} + {_info(video, 'video').dim}"
        ranks = " | ".join(f"{r['mean_rank'][m]:.1f}" for m in COSTS)
        mark = " **(best)**" if (audio, video) == best else ""
        lines.append(
            f"| {audio}{mark} | {video} | {dims} | {ranks} "
            f"| {100 * r['recall']['nw_dtw']['1']:.1f}% |"
        )
    if costs:
        lines += [
            "",
            "Extraction cost measured in this run (s of CPU per minute of media): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(costs.items()))
            + ".",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="shared with bench_evaluation")
    parser.add_argument("--clips", type=int, default=240)
    parser.add_argument("--videos", type=Path, help="compare on these music videos instead")
    parser.add_argument("--seed", type=int, default=0, help="of the synthetic corpus")
    parser.add_argument(
        "--training-seed",
        type=int,
        default=0,
        help="model initialisation and batches; another seed, other rows",
    )
    parser.add_argument("--audio", nargs="+", default=list(DEFAULT_AUDIO))
    parser.add_argument("--video", nargs="+", default=list(DEFAULT_VIDEO))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--train-fraction", type=float, default=1.0,
        help="train on the first fraction of the training clips only (a cheaper comparison; "
             "validation and test clips unchanged)",
    )  # fmt: skip
    parser.add_argument("--results", type=Path, help="write extractors.md and .json here")
    args = parser.parse_args()

    for name in args.audio:
        get_extractor(name, "audio")  # a typo fails now, not after an hour of extraction
    for name in args.video:
        get_extractor(name, "video")
    if args.videos is None:
        generate_corpus(
            args.work / "corpus",
            args.clips,
            args.seed,
            min_duration_s=20.0,
            max_duration_s=40.0,
            track_format=None,
        )
        videos = args.work / "corpus" / "videos"
    else:
        videos = args.videos
    base_dir = build_all(videos, args.work, ["olda"], progress=False)["olda"]
    base = load_dataset(base_dir)
    cache = FrameCache(
        args.work / "extractors" / "frames",
        {r.clip_id: r for r in base.records("train") + base.records("val") + base.records("test")},
        {"audio": base.manifest.audio_extractor.name, "video": base.manifest.video_extractor.name},
    )
    rows: dict[tuple[str, str], dict] = {}
    suffix = "" if args.train_fraction == 1.0 else f"__train{round(100 * args.train_fraction)}"
    suffix += f"__seed{args.training_seed}" if args.training_seed else ""
    kept = nested_training_subset(base.manifest.clips, args.train_fraction)
    n_train = sum(c.split == "train" for c in kept)
    for video in args.video:  # the video extractors are the slow ones (TransNetV2): last
        for audio in args.audio:
            out = args.work / "extractors" / f"{audio}__{video}{suffix}"
            began = time.perf_counter()
            dataset = build_pair_dataset(base_dir, videos, out / "data", audio, video, cache,
                                         args.train_fraction)  # fmt: skip
            result_file = out / "result.json"
            if not result_file.exists():
                result_file.write_text(json.dumps(train_and_evaluate(dataset, out, args)))
            rows[(audio, video)] = json.loads(result_file.read_text())
            r = rows[(audio, video)]
            print(
                f"{audio:>22} x {video:<12} NW-DTW {r['mean_rank']['nw_dtw']:5.1f}  "
                f"centroid {r['mean_rank']['centroid']:5.1f}  (val {r['val_mean_rank']:.1f}, "
                f"{time.perf_counter() - began:.0f} s)",
                flush=True,
            )
    costs = cache.cost_per_minute()
    setup = {
        "material": "synthetic corpus" if args.videos is None else f"the videos in {videos.name}",
        "command": (f"--videos {videos}" if args.videos else f"--clips {args.clips}")
        + f" --work {args.work} --audio {' '.join(args.audio)} "
        f"--video {' '.join(args.video)}"
        + (f" --train-fraction {args.train_fraction:g}" if args.train_fraction != 1.0 else "")
        + (f" --training-seed {args.training_seed}" if args.training_seed else ""),
        "training_clips": n_train,
        "recipe": f"Adam lr {args.learning_rate:g}, at most {args.epochs} epochs, early stop on "
        f"the validation mean rank after {args.patience}, seed {args.training_seed}",
        "split_fractions": SPLIT_FRACTIONS,
        "frame_rate_hz": FRAME_RATE_HZ,
    }
    text = markdown(rows, costs, setup)
    print("\n" + text)
    if args.results:
        args.results.mkdir(parents=True, exist_ok=True)
        stem = f"extractors{suffix.replace('__', '-')}"
        (args.results / f"{stem}.md").write_text(text)
        payload = {
            "setup": setup,
            "extraction_s_per_min": costs,
            "rows": [{"audio": a, "video": v, **r} for (a, v), r in rows.items()],
        }
        (args.results / f"{stem}.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
