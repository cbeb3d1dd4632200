"""Benchmark: the served path on more than one world, against the number of training clips.

For each corpus (``synth``: the project's synthetic generator; ``cutter``, ``painter``:
real recordings from Debian packages with pictures made by rules of their own, see
docs/corpora.md), and each number of training clips:

1. a Seg-VM-Net is trained on the first N training clips with ``v2m train``'s recipe
   and exported to ONNX, as a user would;
2. every test clip's video is a query cut at its cut points (the service's
   ``boundaries=``) and every test clip's soundtrack is a catalog track analysed by the
   ingestion code (:func:`ml.evaluation.served.evaluate_model_on_videos`);
3. every cost ranks the catalog, with and without the CSLS hubness correction (bank:
   the N training clips' videos, what the service holds at activation).

    python -m bench.bench_served --work var/served --corpora synth cutter \
        --train-clips 25 60 --results bench/results

Everything is cached in ``--work``: corpora, analyses, models; a rerun prints the
tables again in seconds. The held-out world (``painter``) is kept out of every choice
and run once at the end with ``--corpora painter``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from app.services.costs import DEFAULT_METHOD
from ml.data.clips import BuildConfig, build_dataset
from ml.data.dataset import load_dataset, write_manifest
from ml.evaluation.served import evaluate_model_on_videos, record_sync_weight, served_table
from ml.export import export_checkpoint, load_registry_entry
from ml.training.config import TrainConfig
from ml.training.trainer import train

#: The recorded worlds by name (docs/corpora.md): B cuts, C paints.
WORLD_KEYS = {"cutter": "b", "painter": "c"}
#: Training recipes compared (TrainConfig fields); "published" is v2m train's recipe.
RECIPES: dict[str, dict] = {
    "published": {},
    "small": {
        "embedding_dim": 64,
        "music_hidden": (256,),
        "video_hidden": (256,),
        "dropout": 0.5,
        "weight_decay": 1e-4,
    },
}
COSTS = ("centroid", "trace", "best_trace", "trace_mean", "best_trace_mean", "nw_dtw", "sw_dtw")


def synth_corpus(root: Path, n_train: int, n_test: int, seed: int) -> dict:
    """The synthetic world: clips 0..n_train-1 train, the next n_test test."""
    from ml.synth import generate_corpus

    corpus = root / "corpus"
    generate_corpus(
        corpus,
        n_train + n_test,
        seed,
        min_duration_s=20.0,
        max_duration_s=40.0,
        workers=2,
        track_format=None,
    )
    videos = sorted((corpus / "videos").glob("*.mp4"))
    cuts = {}
    for truth in sorted((corpus / "truth").glob("*.json")):
        shots = json.loads(truth.read_text())["truth"]["shot_boundaries_s"]
        cuts[truth.stem] = shots[1:-1]
    return {"train": videos[:n_train], "test": videos[n_train : n_train + n_test], "cuts": cuts}


def recorded_corpus(root: Path, world: str, n_train: int, n_test: int, seed: int) -> dict:
    """A world of real recordings (ml.corpora): one excerpt per recording, so the catalog
    holds no two excerpts of one piece; split by recording."""
    from ml.corpora.build import build_corpus

    corpus = root / "corpus"
    build_corpus(corpus, WORLD_KEYS[world], None, seed, max_per_recording=1, jobs=2, log=None)
    cuts = {}
    for truth in corpus.glob("*/*.json"):
        cuts[truth.stem] = [cut["time"] for cut in json.loads(truth.read_text())["cuts"]]
    train = sorted((corpus / "train").glob("*.mp4"))[:n_train]
    test = sorted((corpus / "test").glob("*.mp4"))[:n_test]
    return {"train": train, "test": test, "cuts": cuts}


def fit_sync(model_dir: Path, dataset: Path, cuts: dict, work: Path) -> Path:
    """The model's weight of the cuts-on-beats evidence, fit on its validation clips as
    ``v2m train --export`` does (queries cut at their cut points, like the test's)."""
    if "sync_fusion" not in load_registry_entry(model_dir).data:
        record_sync_weight(
            model_dir,
            dataset,
            work / "train-videos",
            DEFAULT_METHOD,
            cut_points=cuts,
            cache_dir=work / "served-cache",
        )
    return model_dir


def train_model(
    work: Path, videos: list[Path], n_clips: int, cuts: dict, args: argparse.Namespace
) -> Path:
    """``v2m train segvmnet``'s recipe on the first ``n_clips`` videos; the export."""
    tag = f"{n_clips}" if args.recipe == "published" else f"{n_clips}-{args.recipe}"
    model_dir = work / f"model-{tag}"
    if (model_dir / "model.json").is_file():
        return fit_sync(model_dir, work / f"dataset-{n_clips}", cuts, work)
    pool = work / "train-videos"
    pool.mkdir(parents=True, exist_ok=True)
    for video in videos:
        link = pool / video.name
        if not link.exists():
            link.symlink_to(video.resolve())
    # One dataset of every training clip (cached analyses), then the first N for this row.
    full = work / "dataset"
    build_dataset(
        BuildConfig(
            pool,
            full,
            segmentation=args.segmentation,
            audio_extractor=args.audio,
            video_extractor=args.video,
            split_fractions=(0.85, 0.15, 0.0),
            seed=0,
            progress=False,
        )
    )
    manifest = load_dataset(full).manifest
    order = {v.stem: i for i, v in enumerate(videos)}
    keep = sorted(manifest.clips, key=lambda c: order.get(Path(c.source).stem, 1 << 30))[:n_clips]
    subset = work / f"dataset-{n_clips}"
    subset.mkdir(parents=True, exist_ok=True)
    for item in full.iterdir():
        if item.name != "manifest.json" and not (subset / item.name).exists():
            (subset / item.name).symlink_to(item.resolve())
    write_manifest(subset, replace(manifest, clips=keep))
    config = TrainConfig(
        "segvmnet",
        subset,
        work / f"run-{tag}",
        seed=args.seed,
        device="cpu",
        progress=False,
        **RECIPES[args.recipe],
    )
    best = train(config)
    export_checkpoint(best, model_dir, name=f"{work.name}-{tag}")
    return fit_sync(model_dir, subset, cuts, work)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("var/served"))
    parser.add_argument(
        "--corpora", nargs="+", default=["synth", "cutter"], choices=("synth", "cutter", "painter")
    )
    parser.add_argument("--train-clips", type=int, nargs="+", default=[25, 60])
    parser.add_argument("--test-clips", type=int, default=30)
    parser.add_argument("--segmentation", default="olda")
    parser.add_argument("--audio", default="handcrafted")
    parser.add_argument("--video", default="handcrafted")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe", default="published", choices=sorted(RECIPES))
    parser.add_argument(
        "--bank",
        default="model",
        choices=("model", "cuts"),
        help="CSLS bank: the model's own (its training set's segments, as served), or "
        "the training videos cut at their cut points",
    )
    parser.add_argument("--results", type=Path)
    args = parser.parse_args(argv)

    sections, rows = [], []
    for name in args.corpora:
        root = args.work / name
        n_train = max(args.train_clips)
        corpus = (
            synth_corpus(root, n_train, args.test_clips, args.seed)
            if name == "synth"
            else recorded_corpus(root, name, n_train, args.test_clips, args.seed)
        )
        for n in sorted(args.train_clips):
            model = train_model(root, corpus["train"], n, corpus["cuts"], args)
            bank = dict(bank_videos=corpus["train"][:n]) if args.bank == "cuts" else {}
            report = evaluate_model_on_videos(
                model,
                corpus["test"],
                COSTS,
                cut_points=corpus["cuts"],
                cache_dir=root / "served-cache",
                **bank,
            )
            title = (
                f"### {name}: {n} training clips ({args.recipe} recipe, bank: {args.bank}), "
                f"C = {len(corpus['test'])} "
                f"(queries cut at their cut points; tracks by {report.metadata['segmenter']})"
            )
            sections.append(f"{title}\n\n{served_table(report)}\n")
            rows.append(
                {"corpus": name, "train_clips": n, "recipe": args.recipe, **report.to_dict()}
            )
            print(sections[-1], flush=True)
    if args.results is not None:
        args.results.mkdir(parents=True, exist_ok=True)
        command = "python -m bench.bench_served " + " ".join(sys.argv[1:] if argv is None else argv)
        stem = f"served-{'-'.join(args.corpora)}-{args.recipe}-bank-{args.bank}"
        (args.results / f"{stem}.md").write_text(
            "# The served path on several worlds\n\nProduced by `"
            + command.strip()
            + "`.\n\n"
            + "\n".join(sections)
        )
        (args.results / f"{stem}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
