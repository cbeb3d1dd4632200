"""Benchmark: the served path on more than one world, against the number of training clips.

For each corpus (``synth``: the project's synthetic generator; ``cutter``, ``painter``:
real recordings from Debian packages with pictures made by rules of their own, see
docs/corpora.md), and each number of training clips:

1. a Seg-VM-Net is trained on the first N training clips with ``v2m train``'s recipe
   (``--recipe``; once per training seed), exported to ONNX with its CSLS bank, and its weight of
   the cuts-on-beats evidence is fit on its validation clips, as ``v2m train
   --export`` does;
2. every test clip's video is a query cut by the service's shot detection (what a query
   without ``boundaries=`` gets), or at its cut points with ``--queries cuts`` (the
   service's ``boundaries=``), and every test clip's soundtrack is a catalog track
   analysed by the ingestion code (:func:`ml.evaluation.served.evaluate_model_on_videos`);
   the model's bank and its evidence weight are fit on videos cut the same way;
3. every cost ranks the catalog raw, with the CSLS hubness correction, and fused with
   the training-free evidence (what the service serves): the cuts-on-beats score at the
   fitted weight and the structure agreement at its fixed weight; each alone is the
   ``beat_grid`` and ``structure`` row. Tables average the runs (``--folds`` x
   ``--seeds``); the first table is the headline.

    python -m bench.bench_served --work var/served --corpora synth cutter \
        --train-clips 25 100 --seeds 0 1 2 --results bench/results

The features are ``v2m train``'s unless ``--audio``/``--video`` say otherwise; each
pair keeps its datasets and models in a folder of its own beside the world's corpus
and analyses. Everything is cached in ``--work``: corpora, analyses, models; a rerun
prints the tables again in seconds. The held-out world (``painter``) is kept out of every choice
and run once at the end with ``--corpora painter``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from app.services.costs import DEFAULT_METHOD
from ml.data.clips import BuildConfig, build_dataset
from ml.data.dataset import load_dataset, write_manifest
from ml.evaluation.served import evaluate_model_on_videos, record_sync_weight
from ml.export import export_checkpoint, load_registry_entry
from ml.features import DEFAULT_AUDIO_EXTRACTOR, DEFAULT_VIDEO_EXTRACTOR
from ml.sync.structure import STRUCTURE_WEIGHT
from ml.training.config import TrainConfig
from ml.training.trainer import train

#: The recorded worlds by name (docs/corpora.md): B cuts, C paints.
WORLD_KEYS = {"cutter": "b", "painter": "c"}
#: How ``--queries`` cuts a query video, as the tables say it.
QUERIES = {"shots": "by the service's shot detection", "cuts": "at their cut points"}
#: Training recipes compared (TrainConfig fields): "default" is v2m train's (CCA for
#: tens of clips, the better of CCA and triplet on validation from 20 validation clips),
#: "cca" and "triplet" each alone, "small" a smaller triplet network.
RECIPES: dict[str, dict] = {
    "default": {},
    "cca": {"recipe": "cca"},
    "triplet": {"recipe": "triplet"},
    "small": {
        "recipe": "triplet",
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
    return {"pool": videos[: n_train + n_test], "test_clips": n_test, "cuts": cuts}


def recorded_corpus(root: Path, world: str, n_train: int, n_test: int, seed: int) -> dict:
    """A world of real recordings (ml.corpora): one excerpt per recording, so the catalog
    holds no two excerpts of one piece; split by recording."""
    from ml.corpora.build import build_corpus

    corpus = root / "corpus"
    build_corpus(corpus, WORLD_KEYS[world], None, seed, max_per_recording=1, jobs=2, log=None)
    cuts = {}
    for truth in corpus.glob("*/*.json"):
        cuts[truth.stem] = [cut["time"] for cut in json.loads(truth.read_text())["cuts"]]
    test = sorted((corpus / "test").glob("*.mp4"))[:n_test]
    rest = sorted((corpus / "train").glob("*.mp4")) + sorted((corpus / "val").glob("*.mp4"))
    return {"pool": rest + test, "test_clips": len(test), "cuts": cuts}


def clip_count(text: str) -> int:
    """A ``--train-clips`` value: a positive count, or ``all`` (0)."""
    if text == "all":
        return 0
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f"need a positive count or 'all', got {text}")
    return int(text)


def fold_split(corpus: dict, fold: int) -> tuple[list[Path], list[Path]]:
    """Fold ``fold``'s (training videos, test videos): the corpus's clips in their order,
    the ``fold``-th block of ``test_clips`` counted from the end tested, the others
    training in their order. Fold 0 is the corpus's own split; every fold keeps the
    catalog at ``test_clips`` tracks, so that more folds only add queries."""
    pool, size = corpus["pool"], corpus["test_clips"]
    end = len(pool) - fold * size
    if end - size < 0:
        raise SystemExit(f"{len(pool)} clips give at most {len(pool) // size} folds of {size}")
    return pool[: end - size] + pool[end:], pool[end - size : end]


def features_name(args: argparse.Namespace) -> str:
    """The folder of a run's datasets and models: its audio and video extractors."""
    return f"{args.audio}_{args.video}"


def fit_sync(model_dir: Path, dataset: Path, cuts: dict, work: Path) -> Path:
    """The model's bank of music videos and its weight of the cuts-on-beats evidence, fit
    on its validation clips as ``v2m train --export`` does (videos cut at their ``cuts``
    where given, else by their shots, like the test's queries)."""
    fitted = load_registry_entry(model_dir).data.get("sync_fusion") or {}
    if (fitted.get("method"), fitted.get("structure_weight")) != (DEFAULT_METHOD, STRUCTURE_WEIGHT):
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
    work: Path,
    videos: list[Path],
    n_clips: int,
    cuts: dict,
    seed: int,
    args: argparse.Namespace,
    fold: int = 0,
) -> Path:
    """``v2m train segvmnet``'s recipe on the first ``n_clips`` videos; the export, its
    bank and evidence weight fit on videos cut at ``cuts`` (by their shots where none).

    Datasets and models live in a folder of their features (:func:`features_name`);
    the corpus, its training videos and the analyses cache are the world's."""
    data_tag = f"{n_clips}" + (f"-f{fold}" if fold else "")
    tag = data_tag + (f"-s{seed}" if seed else "")
    tag += "" if args.recipe == "triplet" else f"-{args.recipe}"
    models = work / features_name(args)
    model_dir = models / f"model-{tag}{'' if cuts else '-shots'}"
    if (model_dir / "model.json").is_file():
        return fit_sync(model_dir, models / f"dataset-{data_tag}", cuts, work)
    pool = work / "train-videos"
    pool.mkdir(parents=True, exist_ok=True)
    for video in videos:
        link = pool / video.name
        if not link.exists():
            link.symlink_to(video.resolve())
    # One dataset of every training clip (cached analyses), then the first N for this row.
    full = models / "dataset"
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
    subset = models / f"dataset-{data_tag}"
    subset.mkdir(parents=True, exist_ok=True)
    for item in full.iterdir():
        if item.name != "manifest.json" and not (subset / item.name).exists():
            (subset / item.name).symlink_to(item.resolve())
    write_manifest(subset, replace(manifest, clips=keep))
    config = TrainConfig(
        "segvmnet",
        subset,
        models / f"run-{tag}",
        seed=seed,
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
    parser.add_argument(
        "--train-clips",
        type=clip_count,
        nargs="+",
        default=[25, 60],
        help="training clips per model; 'all': every clip outside the fold's test block",
    )
    parser.add_argument("--test-clips", type=int, default=30)
    parser.add_argument(
        "--corpus-train",
        type=int,
        help="training clips the synthetic corpus holds (default: the most of --train-clips, "
        "100 with 'all'); the test clips follow them, so runs with other --train-clips "
        "test the same clips",
    )
    parser.add_argument("--segmentation", default="olda")
    parser.add_argument("--audio", default=DEFAULT_AUDIO_EXTRACTOR, help="v2m train's by default")
    parser.add_argument("--video", default=DEFAULT_VIDEO_EXTRACTOR, help="v2m train's by default")
    parser.add_argument("--corpus-seed", type=int, default=0)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds; tables average them"
    )
    parser.add_argument("--recipe", default="default", choices=sorted(RECIPES))
    parser.add_argument(
        "--folds",
        type=int,
        default=1,
        help="test folds, at most: fold 0 is the corpus's split, each further fold tests "
        "the next block of clips (catalog size unchanged) and trains on the others; a "
        "corpus runs as many as its clips allow",
    )
    parser.add_argument(
        "--bank",
        default="model",
        choices=("model", "cuts"),
        help="CSLS bank: the model's own, as served (its bank of music videos cut as "
        "queries are, else its training set's segments), or every training video cut at "
        "its cut points",
    )
    parser.add_argument(
        "--queries",
        default="shots",
        choices=("shots", "cuts"),
        help="how test, validation and bank videos are cut: by the service's shot "
        "detection, as a query without boundaries= is, or at their known cut points",
    )
    parser.add_argument("--results", type=Path)
    args = parser.parse_args(argv)

    sections, rows, headline = [], [], {}
    for name in args.corpora:
        root = args.work / name
        n_train = args.corpus_train or max(args.train_clips) or 100
        corpus = (
            synth_corpus(root, n_train, args.test_clips, args.corpus_seed)
            if name == "synth"
            else recorded_corpus(root, name, n_train, args.test_clips, args.corpus_seed)
        )
        folds = min(args.folds, len(corpus["pool"]) // corpus["test_clips"])
        cuts = corpus["cuts"] if args.queries == "cuts" else {}
        for wanted in sorted(args.train_clips, key=lambda n: n or 1 << 30):
            reports = []
            for fold, seed in itertools.product(range(folds), args.seeds):
                train_videos, test_videos = fold_split(corpus, fold)
                n = wanted or len(train_videos)
                model = train_model(root, train_videos, n, cuts, seed, args, fold)
                bank = dict(bank_videos=train_videos[:n]) if args.bank == "cuts" else {}
                report = evaluate_model_on_videos(
                    model,
                    test_videos,
                    COSTS,
                    cut_points=cuts,
                    cache_dir=root / "served-cache",
                    **bank,
                )
                reports.append(report)
                rows.append(
                    {
                        "corpus": name,
                        "train_clips": n,
                        "seed": seed,
                        "fold": fold,
                        "recipe": args.recipe,
                        **report.to_dict(),
                    }
                )
            weights = ", ".join(f"{r.metadata['sync_weight']:g}" for r in reports)
            label = f"{n}" if wanted else f"all ({n})"
            title = (
                f"### {name}: {label} training clips ({args.recipe} recipe, bank: {args.bank}, "
                f"audio {args.audio}, video {args.video}), "
                f"C = {corpus['test_clips']}, {folds} fold(s) x {len(args.seeds)} seed(s), "
                f"{folds * corpus['test_clips']} queries, fitted sync weight "
                f"{weights} (queries cut {QUERIES[args.queries]}; tracks by "
                f"{reports[0].metadata['segmenter']})"
            )
            sections.append(f"{title}\n\n{mean_table(reports)}\n")
            headline[(name, label)] = reports
            print(sections[-1], flush=True)
    summary = headline_table(headline)
    print(summary, flush=True)
    if args.results is not None:
        args.results.mkdir(parents=True, exist_ok=True)
        command = "python -m bench.bench_served " + " ".join(sys.argv[1:] if argv is None else argv)
        stem = f"served-{'-'.join(args.corpora)}-{args.recipe}-bank-{args.bank}"
        stem += f"-{features_name(args)}"
        stem += f"-folds{args.folds}" if args.folds > 1 else ""
        stem += "-shots" if args.queries == "shots" else ""
        (args.results / f"{stem}.md").write_text(
            "# The served path on several worlds\n\nProduced by `"
            + command.strip()
            + "`.\n\n"
            + summary
            + "\n\n"
            + "\n".join(sections)
        )
        (args.results / f"{stem}.json").write_text(json.dumps(rows, indent=2))


def _mean_scores(reports: list) -> dict[tuple[str, str], dict[str, float]]:
    """(cost, correction) -> the mean over seeds of each score."""
    out: dict[tuple[str, str], dict[str, list[float]]] = {}
    for report in reports:
        for s in report.scores:
            cell = out.setdefault((s.method, s.hubness), {})
            for key, value in (
                ("share", s.rank_share),
                ("r1", s.recall[1]),
                ("r10", s.recall[10]),
                ("skew", s.skewness_10),
                ("top1", s.top1_share_ratio),
            ):
                cell.setdefault(key, []).append(value)
    return {
        key: {k: float(np.mean(v)) for k, v in cell.items()} | {"sd": float(np.std(cell["share"]))}
        for key, cell in out.items()
    }


def mean_table(reports: list) -> str:
    """Every (cost, correction), averaged over the seeds' reports."""
    lines = [
        "| cost | correction | % of C (sd over runs) | R@1 | R@10 | skew N10 | top-1 share |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (method, correction), m in _mean_scores(reports).items():
        lines.append(
            f"| {method} | {correction} | {100 * m['share']:.1f}% ({100 * m['sd']:.1f}) "
            f"| {100 * m['r1']:.0f}% | {100 * m['r10']:.0f}% | {m['skew']:.2f} | {m['top1']:.1f}x |"
        )
    return "\n".join(lines)


def _served(scores: dict, method: str) -> dict[str, float]:
    """A cost's scores with every correction the service applies to it."""
    for correction in ("csls+sync", "csls", "none"):
        if (method, correction) in scores:
            return scores[(method, correction)]
    raise KeyError(method)


def headline_table(reports: dict[tuple[str, str], list]) -> str:
    """Costs x (corpus, training clips) as served (CSLS, then the fitted sync weight):
    mean rank as a share of C / R@1 / R@10 / top-1 share, averaged over the runs."""
    cells = {key: _mean_scores(r) for key, r in reports.items()}
    head = " | ".join(f"{corpus} {n}" for corpus, n in cells)
    lines = [
        "Served path, mean rank as % of C / R@1 / R@10 / top-1 share (the cost with its "
        "served corrections: CSLS, the cuts-on-beats evidence at the model's fitted "
        "weight and the structure agreement at its fixed weight; `beat_grid` and "
        "`structure` are each evidence alone):",
        "",
        f"| cost | {head} |",
        "| --- |" + " --- |" * len(cells),
    ]
    evidence = ("beat_grid", "structure")
    for method in (*evidence, *COSTS):
        row = []
        for scores in cells.values():
            m = scores[(method, "none")] if method in evidence else _served(scores, method)
            row.append(
                f"{100 * m['share']:.1f}% / {100 * m['r1']:.0f}% / {100 * m['r10']:.0f}% "
                f"/ {m['top1']:.1f}x"
            )
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
