"""Benchmark: Seg-VM-Net's test mean rank against the number of training clips.

Reuses a dataset of :mod:`bench.bench_extractors` (OLDA segments, one pair of frame
extractors; by default the project's default features). Each row trains on the first
fraction of the training clips (manifest order, so the smaller sets are nested) with
the validation and test clips unchanged, so every row is scored on the same catalog
(C = the test clips). The full size is trained with several seeds: their spread is
what initialisation alone moves the result. A power law fitted to the mean rank per
training size (log-log least squares) tells roughly how many training clips the
mean rank at 5% of C would take; that is an extrapolation, not a measurement.
``--extra-clips N ...`` measures past the corpus instead: the full training split plus
the first N clips of a pool of newly generated ones (other corpus seeds, the same
generator and clip lengths), again scored on the same test clips; the largest N is
trained with every seed.

    python -m bench.bench_data_size --work var/evaluation --results bench/results
    python -m bench.bench_data_size --work var/evaluation --extra-clips 160 320 --results bench/results

Same recipe as the extractor comparison (Adam lr 1e-3, early stop on the validation
mean rank); resumable: finished rows are kept in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from ml.data.clips import BuildConfig, build_dataset
from ml.data.dataset import ClipEntry, load_dataset, write_manifest
from ml.evaluation.experiment import evaluate_checkpoint
from ml.synth.corpus import generate_corpus
from ml.training.config import TrainConfig
from ml.training.trainer import train
from ml.warmup import warm_up

COSTS = ("centroid", "nw_dtw")
GOAL_FRACTION_OF_C = 0.05
CLIP_SECONDS = (20.0, 40.0)  # as the evaluation corpus (bench_evaluation's defaults)


def nested_training_subset(clips: list[ClipEntry], fraction: float) -> list[ClipEntry]:
    """``clips`` with only the first ``fraction`` of the training ones (manifest order,
    so a smaller subset is inside a larger one); validation and test clips all kept."""
    train = [c.clip_id for c in clips if c.split == "train"]
    keep = set(train[: max(2, round(fraction * len(train)))])
    return [c for c in clips if c.split != "train" or c.clip_id in keep]


def subset_dataset(source: Path, out: Path, fraction: float) -> Path:
    """A dataset directory holding :func:`nested_training_subset` of ``source``'s clips
    (the clip files are shared through a link, not copied)."""
    manifest = load_dataset(source).manifest
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "cache").exists():
        (out / "cache").symlink_to((source / "cache").resolve(), target_is_directory=True)
    write_manifest(out, replace(manifest, clips=nested_training_subset(manifest.clips, fraction)))
    return out


def _link_cache(dataset_dir: Path, cache: Path) -> None:
    dataset_dir.mkdir(parents=True, exist_ok=True)
    if not (dataset_dir / "cache").exists():
        (dataset_dir / "cache").symlink_to(cache.resolve(), target_is_directory=True)


def _generate_and_build(
    root: Path, seed: int, n_clips: int, audio: str, video: str, cache: Path
) -> None:
    """One worker's share of the extra pool: its own corpus seed, then its clips analysed
    (OLDA segments, ``audio``/``video`` frames) into the shared ``cache``."""
    corpus = root / f"seed{seed}"
    generate_corpus(corpus, n_clips, seed, min_duration_s=CLIP_SECONDS[0],
                    max_duration_s=CLIP_SECONDS[1], track_format=None)  # fmt: skip
    _link_cache(root / f"build-seed{seed}", cache)
    build_dataset(BuildConfig(corpus / "videos", root / f"build-seed{seed}", segmentation="olda",
                              audio_extractor=audio, video_extractor=video,
                              split_fractions=(1.0, 0.0, 0.0), progress=False))  # fmt: skip


def build_extra_pool(
    root: Path, n_clips: int, audio: str, video: str, cache: Path, workers: int
) -> Path:
    """A dataset of ``n_clips`` more synthetic clips, all for training, drawn from corpus
    seeds 1, 2, ... (the evaluation corpus is seed 0, so no clip repeats one of its test
    clips). Each of ``workers`` processes generates and analyses one seed's share; a
    last pass over all of them (every clip cached by then) names each clip by its seed
    (``seed1/videos/clip_00000``) and writes the manifest."""
    per_worker = math.ceil(n_clips / workers)
    warm_up()  # compile the Numba kernels here, once: workers compiling at once corrupt the cache
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        jobs = [pool.submit(_generate_and_build, root, seed, per_worker, audio, video, cache)
                for seed in range(1, workers + 1)]  # fmt: skip
        for job in jobs:
            job.result()
    _link_cache(root / "data", cache)
    build_dataset(BuildConfig(root, root / "data", segmentation="olda", audio_extractor=audio,
                              video_extractor=video, split_fractions=(1.0, 0.0, 0.0),
                              progress=False))  # fmt: skip
    return root / "data"


def _pool_order(clip: ClipEntry) -> tuple[int, str]:
    """Clip ``k`` of every seed before clip ``k + 1`` of any: the first N clips of the
    pool are then the same whatever its size, so the rows stay nested as it grows."""
    seed_dir, _, name = clip.clip_id.split("/")
    return int(name.rsplit("_", 1)[1]), seed_dir


def with_extra_training(source: Path, extra: Path, out: Path, n_extra: int) -> Path:
    """``source``'s clips and splits plus the first ``n_extra`` clips of the ``extra``
    pool as training clips (both datasets keep their clip files in one cache)."""
    manifest = load_dataset(source).manifest
    added = sorted(load_dataset(extra).manifest.clips, key=_pool_order)[:n_extra]
    if len(added) < n_extra:
        raise SystemExit(f"the extra pool holds {len(added)} clips, not {n_extra}")
    _link_cache(out, (source / "cache").resolve())
    extra_training = [replace(c, split="train") for c in added]
    write_manifest(out, replace(manifest, clips=manifest.clips + extra_training))
    return out


def run_row(dataset: Path, out: Path, seed: int, args: argparse.Namespace) -> dict:
    """Train one Seg-VM-Net and score it on the validation and test clips (cached)."""
    result_file = out / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    began = time.perf_counter()
    config = TrainConfig(
        "segvmnet", dataset, out / "run", recipe="triplet", max_epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.learning_rate, monitor="val_mean_rank", device=args.device,
        seed=seed, progress=False,
    )  # fmt: skip
    best = train(config)
    result: dict = {"seed": seed, "n_train": 0}
    for split in ("val", "test"):
        report = evaluate_checkpoint(dataset, best, split=split, methods=COSTS,
                                     scenarios=("vanilla",))  # fmt: skip
        scores = report.segment_level["vanilla"]
        result[split] = {m: scores[m].mean_rank for m in COSTS} | {"n_clips": report.n_clips}
    result["n_train"] = sum(c.split == "train" for c in load_dataset(dataset).manifest.clips)
    result["seconds"] = round(time.perf_counter() - began)
    result_file.write_text(json.dumps(result, indent=2))
    return result


def clips_for_goal(rows: list[dict]) -> tuple[float, float]:
    """Exponent b and training clips N at which ``rank = a * N**b`` reaches the goal."""
    by_size: dict[int, list[float]] = {}
    for r in rows:
        by_size.setdefault(r["n_train"], []).append(r["test"]["nw_dtw"])
    sizes = np.array(sorted(by_size), dtype=float)
    ranks = np.array([np.mean(by_size[int(n)]) for n in sizes])
    b, log_a = np.polyfit(np.log(sizes), np.log(ranks), 1)
    goal = GOAL_FRACTION_OF_C * rows[0]["test"]["n_clips"]
    return float(b), float(np.exp((np.log(goal) - log_a) / b))


def markdown(rows: list[dict], command: str) -> str:
    c = rows[0]["test"]["n_clips"]
    exponent, needed = clips_for_goal(rows)
    lines = [
        "# Seg-VM-Net against the number of training clips (OLDA segments, synthetic corpus)",
        "",
        (
            f"Produced by `python -m bench.bench_data_size {command}`. The same validation "
            f"and test clips for every row (test catalog C = {c}, chance = {(c + 1) / 2:.1f}); "
            "the training sets are nested (past the corpus's own training split, with "
            "clips generated from other corpus seeds). Mean rank of the correct track "
            "(lower is better)."
        ),
        "",
        "| training clips | seed | val NW-DTW | test centroid | test NW-DTW | NW-DTW, % of C |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: (r["n_train"], r["seed"])):
        t = r["test"]
        lines.append(
            f"| {r['n_train']} | {r['seed']} | {r['val']['nw_dtw']:.2f} | "
            f"{t['centroid']:.2f} | {t['nw_dtw']:.2f} | {100 * t['nw_dtw'] / c:.1f}% |"
        )
    lines += [
        "",
        (
            f"Power law fitted to the mean NW-DTW rank per size: rank ~ N^{exponent:.2f}; it "
            f"reaches {100 * GOAL_FRACTION_OF_C:.0f}% of C at about {needed:.0f} training "
            "clips (an extrapolation)."
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="as for bench_extractors")
    parser.add_argument("--audio", default="handcrafted+musicnn")
    parser.add_argument("--video", default="handcrafted")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--extra-clips", type=int, nargs="*", default=[],
        help="also train on the full training split plus this many more generated clips",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="processes making extra clips")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--results", type=Path, help="write data_size.md and .json here")
    args = parser.parse_args()

    source = args.work / "extractors" / f"{args.audio}__{args.video}" / "data"
    if not (source / "manifest.json").exists():
        raise SystemExit(f"no dataset at {source}: run bench.bench_extractors first")
    root = args.work / "data_size" / f"{args.audio}__{args.video}"
    rows = []
    plan = [(f, 0) for f in args.fractions if f < 1.0] + [(1.0, s) for s in args.seeds]
    for fraction, seed in plan:
        name = f"train{round(100 * fraction)}"
        dataset = source if fraction == 1.0 else subset_dataset(source, root / name, fraction)
        rows.append(run_row(dataset, root / f"{name}-seed{seed}", seed, args))
        r = rows[-1]
        print(
            f"{r['n_train']:4d} training clips, seed {seed}: test NW-DTW "
            f"{r['test']['nw_dtw']:.2f}, centroid {r['test']['centroid']:.2f}",
            flush=True,
        )
    if args.extra_clips:
        cache = (source / "cache").resolve()
        pool = build_extra_pool(root / "extra", max(args.extra_clips), args.audio, args.video,
                                cache, args.workers)  # fmt: skip
        for n_extra in sorted(args.extra_clips):
            name = f"train100+extra{n_extra}"
            dataset = with_extra_training(source, pool, root / name, n_extra)
            # the largest training set, like the corpus's own, with every seed
            for seed in args.seeds if n_extra == max(args.extra_clips) else [0]:
                rows.append(run_row(dataset, root / f"{name}-seed{seed}", seed, args))
                print(f"{rows[-1]['n_train']:4d} training clips, seed {seed}: test NW-DTW "
                      f"{rows[-1]['test']['nw_dtw']:.2f}", flush=True)  # fmt: skip
    command = (
        f"--work {args.work} --audio {args.audio} --video {args.video} --fractions "
        f"{' '.join(map(str, args.fractions))} --seeds {' '.join(map(str, args.seeds))}"
        + (f" --extra-clips {' '.join(map(str, args.extra_clips))}" if args.extra_clips else "")
    )
    text = markdown(rows, command)
    print("\n" + text)
    if args.results:
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "data_size.md").write_text(text)
        (args.results / "data_size.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
