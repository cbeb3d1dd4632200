"""Evaluate the path users get: what ``POST /recommend/video`` does, on held-out clips.

The protocol of docs/method.md §6 (:mod:`ml.evaluation.protocol`) cuts a test clip's
picture and music with the *same* boundaries. A user's query is not cut that way: the
video is cut by its shots (or by the user's own cut points) and each catalog track by
its own music structure, at ingestion. This module evaluates that path:

1. each test clip's picture goes through :func:`ml.pipeline.video.analyse_video`
   (shots, or the clip's known cut points) and the model's exported video branch;
2. each test clip's soundtrack goes through :func:`ml.pipeline.track.analyse_track_file`
   (the ingestion code: the model's music segmenter) and the exported music branch;
3. every query ranks all C test tracks under each cost, optionally corrected for
   hubness with a bank of reference queries (:mod:`ml.ranking.hubness`, CSLS);
4. the scores: mean rank of the right track, as a share of C too, Recall@k, and the
   hubness of the ranking (skewness of the 10-occurrence, top-1 share ratio).

The analysis of a clip (before the model) is cached in a folder, keyed by the file's
bytes and what analysed it, so comparing models or costs re-uses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.evaluation.fusion import SyncWeightFit, fit_sync_weight
from ml.evaluation.retrieval import EvaluationError, answer_ranks, evaluate_ranks
from ml.ranking import PackedSegments, distance_matrix
from ml.ranking.fusion import fuse_evidences
from ml.ranking.hubness import csls_distances, hub_radius, hubness_skewness, k_occurrence
from ml.sync.beat_grid import beat_grid_scores
from ml.sync.offset import TrackEvents
from ml.sync.prior import MAX_SYNC_BANK, SyncBank, centre_on_prior
from ml.sync.structure import STRUCTURE_WEIGHT, structure_scores

__all__ = [
    "ANALYSIS_VERSION",
    "ServedClip",
    "ServedReport",
    "ServedScores",
    "analyse_served_clip",
    "analyse_served_query",
    "analyse_served_track",
    "beat_grid_matrix",
    "build_sync_bank",
    "cost_matrix",
    "evaluate_model_on_videos",
    "evaluate_served",
    "fit_served_sync_weight",
    "model_pipeline",
    "record_sync_weight",
    "served_table",
    "structure_matrix",
]

#: Bump when the cached analysis of a clip changes for the same inputs.
ANALYSIS_VERSION = "3"


@dataclass(frozen=True)
class ServedClip:
    """One clip through the served pipelines, before any model.

    ``query_vectors`` ``(Kq, Dv)``: the picture cut by shots or cut points;
    ``track_vectors`` ``(Kc, Da)``: the soundtrack cut by the music segmenter;
    ``query_frames`` ``(Tq, Dv)`` and ``track_frames`` ``(Tc, Da)``: their 1 Hz
    frame features, as the service keeps them.
    """

    clip_id: str
    query_boundaries_s: np.ndarray
    query_vectors: np.ndarray
    track_boundaries_s: np.ndarray
    track_vectors: np.ndarray
    downbeats_s: np.ndarray
    beats_s: np.ndarray
    query_frames: np.ndarray
    track_frames: np.ndarray

    @property
    def cuts_s(self) -> np.ndarray:
        """The query's cut times, its segmentation's inner boundaries (seconds)."""
        return self.query_boundaries_s[1:-1]

    @property
    def video_duration_s(self) -> float:
        return float(self.query_boundaries_s[-1])

    @property
    def track_events(self) -> TrackEvents:
        """The soundtrack's beats, downbeats and boundaries, as a catalog track's."""
        return TrackEvents(
            self.downbeats_s,
            self.track_boundaries_s,
            float(self.track_boundaries_s[-1]),
            self.beats_s,
        )


def _cache_key(path: Path, parts: Mapping[str, object]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(dict(parts), sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _cached(cache_dir: Path | None, path: Path, parts: Mapping[str, object], compute):
    """``compute()`` (a dict of arrays), kept in ``cache_dir`` under the file's bytes and
    ``parts``."""
    if cache_dir is None:
        return compute()
    file = Path(cache_dir) / f"{_cache_key(path, parts)}.npz"
    if file.is_file():
        with np.load(file, allow_pickle=False) as z:
            return {key: z[key] for key in z.files}
    arrays = compute()
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(file)
    return arrays


def analyse_served_query(
    path: Path,
    video_extractor: str,
    cut_points_s: Sequence[float] | None = None,
    cache_dir: Path | None = None,
) -> dict[str, np.ndarray]:
    """A video as the service analyses a query: its ``boundaries`` (seconds), segment
    ``vectors`` and 1 Hz ``frames``."""
    from ml.pipeline.video import analyse_video

    parts = {
        "version": ANALYSIS_VERSION,
        "video": video_extractor,
        "cuts": None if cut_points_s is None else [round(float(t), 3) for t in cut_points_s],
    }

    def compute() -> dict[str, np.ndarray]:
        video = analyse_video(path, video_extractor, cut_points_s=cut_points_s)
        return {
            "boundaries": video.boundaries_s,
            "vectors": video.segment_vectors,
            "frames": video.features,
        }

    return _cached(cache_dir, Path(path), parts, compute)


def analyse_served_track(
    path: Path, music_segmenter: str, audio_extractor: str, cache_dir: Path | None = None
) -> dict[str, np.ndarray]:
    """A soundtrack as ingestion analyses a catalog track: its ``boundaries``,
    segment ``vectors``, ``downbeats`` and ``beats`` (seconds) and 1 Hz ``frames``."""
    from ml.pipeline.track import analyse_track_file

    parts = {"version": ANALYSIS_VERSION, "audio": audio_extractor, "segmenter": music_segmenter}

    def compute() -> dict[str, np.ndarray]:
        track = analyse_track_file(path, music_segmenter, audio_extractor)
        return {
            "boundaries": track.boundaries_s,
            "vectors": track.segment_vectors,
            "downbeats": track.downbeats_s,
            "beats": np.asarray(track.analysis.beats.beats_s, dtype=np.float64),
            "frames": track.features,
        }

    return _cached(cache_dir, Path(path), parts, compute)


def analyse_served_clip(
    path: Path,
    *,
    video_extractor: str,
    audio_extractor: str,
    music_segmenter: str,
    cut_points_s: Sequence[float] | None = None,
    cache_dir: Path | None = None,
) -> ServedClip:
    """Analyse one clip as the service analyses a query (its picture) and a catalog
    track (its soundtrack); cached under ``cache_dir`` when given."""
    query = analyse_served_query(path, video_extractor, cut_points_s, cache_dir)
    track = analyse_served_track(path, music_segmenter, audio_extractor, cache_dir)
    return ServedClip(
        Path(path).stem,
        query["boundaries"],
        query["vectors"],
        track["boundaries"],
        track["vectors"],
        track["downbeats"],
        track["beats"],
        query["frames"],
        track["frames"],
    )


def build_sync_bank(
    videos: Sequence[Path],
    video_extractor: str,
    cut_points: Mapping[str, Sequence[float]] | None = None,
    cache_dir: Path | None = None,
) -> SyncBank:
    """The first :data:`~ml.sync.prior.MAX_SYNC_BANK` of ``videos`` analysed as queries
    (cut at their ``cut_points[stem]``, else by their shots), as a bank for the
    evidence's priors; a video that cannot be decoded is left out."""
    from ml.media.errors import MediaError

    ids, cuts, durations, frames = [], [], [], []
    for path in videos[:MAX_SYNC_BANK]:
        stem = Path(path).stem
        try:
            query = analyse_served_query(
                path, video_extractor, (cut_points or {}).get(stem), cache_dir
            )
        except MediaError:
            continue
        ids.append(stem)
        cuts.append(query["boundaries"][1:-1])
        durations.append(float(query["boundaries"][-1]))
        frames.append(query["frames"])
    return SyncBank(tuple(ids), tuple(cuts), np.asarray(durations), tuple(frames))


def cost_matrix(
    queries: Sequence[np.ndarray], tracks: Sequence[np.ndarray], method: str
) -> np.ndarray:
    """``(n_queries, n_tracks)`` distances of every query sequence to every track
    sequence under ``method`` (the kernel the service reranks with)."""
    packed = _packed(tracks)
    return distance_matrix(_packed(queries), packed, np.arange(packed.n_tracks), method)


def beat_grid_matrix(queries: Sequence[ServedClip], tracks: Sequence[TrackEvents]) -> np.ndarray:
    """``(n_queries, n_tracks)`` how well each query's cuts fall on each track's beats
    (:func:`ml.sync.beat_grid.beat_grid_scores`), higher is better, NaN for none."""
    return np.stack([beat_grid_scores(q.cuts_s, q.video_duration_s, tracks).score for q in queries])


def structure_matrix(
    queries: Sequence[ServedClip], frames: Sequence[np.ndarray], events: Sequence[TrackEvents]
) -> np.ndarray:
    """``(n_queries, n_tracks)`` how well each query's picture repeats where each
    track's music does (:func:`ml.sync.structure.structure_scores`; the tracks' 1 Hz
    ``frames``), with the query laid on the track at its cuts-on-beats best offset
    (from the tracks' ``events``), as the service does; higher is better, NaN for
    none."""
    rows = []
    for q in queries:
        offsets = beat_grid_scores(q.cuts_s, q.video_duration_s, events).offset_s
        rows.append(structure_scores(q.query_frames, frames, offsets))
    return np.stack(rows)


def _packed(sequences: Sequence[np.ndarray]) -> PackedSegments:
    return PackedSegments.from_sequences([np.asarray(x, np.float32) for x in sequences])


@dataclass(frozen=True)
class ServedScores:
    """One cost's scores on the served path."""

    method: str
    hubness: str  # "none" or "csls"
    mean_rank: float
    rank_ci95: tuple[float, float]
    recall: dict[int, float]
    n_queries: int
    n_candidates: int
    skewness_10: float  # skewness of the 10-occurrence (0 = fair)
    top1_share_ratio: float  # most frequent top-1 track's share / fair share

    @property
    def rank_share(self) -> float:
        """Mean rank as a share of the catalog (chance is about 0.5)."""
        return self.mean_rank / self.n_candidates

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "hubness": self.hubness,
            "mean_rank": self.mean_rank,
            "rank_share": self.rank_share,
            "rank_ci95": list(self.rank_ci95),
            "recall": {f"R@{k}": v for k, v in self.recall.items()},
            "n_queries": self.n_queries,
            "n_candidates": self.n_candidates,
            "skewness_10": self.skewness_10,
            "top1_share_ratio": self.top1_share_ratio,
        }


def _scores(method: str, hubness: str, distances: np.ndarray) -> ServedScores:
    ranks = answer_ranks(distances)
    summary = evaluate_ranks(ranks, distances.shape[1])
    top1 = k_occurrence(distances, 1)
    return ServedScores(
        method,
        hubness,
        summary.mean_rank,
        summary.rank_ci95,
        summary.recall,
        summary.n_queries,
        summary.n_candidates,
        hubness_skewness(k_occurrence(distances, min(10, distances.shape[1]))),
        float(top1.max() / (distances.shape[0] / distances.shape[1])),
    )


@dataclass
class ServedReport:
    """Scores per (cost, hubness correction), with what was evaluated."""

    scores: list[ServedScores] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metadata": self.metadata, "scores": [s.to_dict() for s in self.scores]}


def evaluate_served(
    queries: Sequence[np.ndarray],
    tracks: Sequence[np.ndarray],
    methods: Sequence[str],
    *,
    bank: Sequence[np.ndarray] | None = None,
    csls_k: int = 10,
    evidence: np.ndarray | None = None,
    sync_weight: float = 0.0,
    structure: np.ndarray | None = None,
    structure_weight: float = STRUCTURE_WEIGHT,
) -> ServedReport:
    """Rank the ``C`` tracks for every query (query ``i``'s answer is track ``i``).

    Parameters
    ----------
    queries : sequence of np.ndarray, each (Kq_i, d)
        Embedded query videos (video branch).
    tracks : sequence of np.ndarray, each (Kc_i, d)
        Embedded catalog tracks (music branch), ``len(tracks) >= len(queries)``.
    methods : sequence of str
        Costs of :mod:`ml.ranking`.
    bank : sequence of np.ndarray, optional
        Embedded reference queries (clips that are not among the test clips); with a
        bank, every cost is also scored with the CSLS correction.
    evidence : np.ndarray, optional
        ``(n_queries, C)`` cuts-on-beats scores (:func:`beat_grid_matrix`); with it,
        the evidence alone is scored as ``beat_grid``, and with ``sync_weight > 0``
        every cost is also scored fused with it (:func:`ml.ranking.fusion.fuse_evidence`)
        after its served correction.
    sync_weight : float
        The model's fitted weight of the evidence.
    structure : np.ndarray, optional
        ``(n_queries, C)`` structure agreements (:func:`structure_matrix`); scored
        alone as ``structure``, and fused beside the cuts-on-beats evidence at
        ``structure_weight``, as served.
    """
    if len(queries) == 0 or len(tracks) < len(queries):
        raise EvaluationError("need at least one query and one track per query")
    report = ServedReport(
        metadata={
            "n_queries": len(queries),
            "n_candidates": len(tracks),
            "bank": len(bank) if bank else 0,
            "csls_k": csls_k,
            "sync_weight": sync_weight,
            "structure_weight": structure_weight if structure is not None else 0.0,
        }
    )
    evidences = [(evidence, sync_weight)] if evidence is not None else []
    if structure is not None:
        report.scores.append(_scores("structure", "none", -np.nan_to_num(structure, nan=0.0)))
        evidences.append((structure, structure_weight))
    if evidence is not None:
        report.scores.append(_scores("beat_grid", "none", -np.nan_to_num(evidence, nan=0.0)))
    for method in methods:
        distances = cost_matrix(queries, tracks, method)
        report.scores.append(_scores(method, "none", distances))
        served, correction = distances, "none"
        if bank:
            radius = hub_radius(cost_matrix(bank, tracks, method), csls_k)
            served, correction = csls_distances(distances, radius), "csls"
            report.scores.append(_scores(method, correction, served))
        if any(weight > 0 for _, weight in evidences):
            fused = fuse_evidences(served, evidences)
            report.scores.append(_scores(method, f"{correction}+sync", fused))
    return report


def served_table(report: ServedReport) -> str:
    """The report as a markdown table, one row per (cost, correction)."""
    lines = [
        "| cost | correction | mean rank | % of C | R@1 | R@10 | skew N10 | top-1 share |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in report.scores:
        lines.append(
            f"| {s.method} | {s.hubness} | {s.mean_rank:.2f} | {100 * s.rank_share:.1f}% "
            f"| {100 * s.recall[1]:.0f}% | {100 * s.recall[10]:.0f}% "
            f"| {s.skewness_10:.2f} | {s.top1_share_ratio:.1f}x |"
        )
    return "\n".join(lines)


def model_pipeline(entry) -> dict[str, str]:
    """What a registered model's catalog and queries are analysed with: its audio and
    video extractors and its music segmenter (:attr:`RegistryEntry.music_segmenter`)."""

    def name(modality: str) -> str:
        identity = entry.extractor_identity(modality)
        if identity is None:
            raise EvaluationError(f"the model records no {modality} extractor")
        return identity["name"]

    return {"audio": name("audio"), "video": name("video"), "segmenter": entry.music_segmenter}


def _served_clips(
    entry,
    videos: Sequence[Path],
    cut_points: Mapping[str, Sequence[float]],
    cache_dir: Path | None,
    progress=None,
) -> list[ServedClip]:
    pipe = model_pipeline(entry)
    out = []
    for path in videos:
        out.append(
            analyse_served_clip(
                path,
                video_extractor=pipe["video"],
                audio_extractor=pipe["audio"],
                music_segmenter=pipe["segmenter"],
                cut_points_s=cut_points.get(Path(path).stem),
                cache_dir=cache_dir,
            )
        )
        if progress is not None:
            progress(path)
    return out


def fit_served_sync_weight(
    model_dir: Path,
    videos: Sequence[Path],
    method: str,
    *,
    distractors: Sequence[Path] = (),
    cut_points: Mapping[str, Sequence[float]] | None = None,
    cache_dir: Path | None = None,
) -> SyncWeightFit:
    """Fit an exported model's weight of the cuts-on-beats evidence on held-out videos
    (its validation clips) through the served path: each video's picture is a query
    and the catalog is the videos' soundtracks and the ``distractors``' (its training
    clips'), ranked by ``method`` with the model's own CSLS bank
    (:func:`ml.evaluation.fusion.fit_sync_weight`)."""
    from ml.export import load_registry_entry

    entry = load_registry_entry(model_dir)
    music, video = entry.encoder("music", "cpu"), entry.encoder("video", "cpu")
    queries = _served_clips(entry, videos, cut_points or {}, cache_dir)
    if len(queries) == 0:
        return fit_sync_weight(np.zeros((0, 0)), np.zeros((0, 0)))
    pipe = model_pipeline(entry)
    # The distractors are catalog tracks only: their pictures are never analysed.
    others = [
        analyse_served_track(path, pipe["segmenter"], pipe["audio"], cache_dir)
        for path in distractors
    ]
    tracks = [music.embed(c.track_vectors) for c in queries]
    tracks += [music.embed(t["vectors"]) for t in others]
    events = [c.track_events for c in queries] + [
        TrackEvents(t["downbeats"], t["boundaries"], float(t["boundaries"][-1]), t["beats"])
        for t in others
    ]
    # A distractor is a training clip's soundtrack, and the banks hold training clips'
    # videos: each track's own video is left out of its hub radius and its priors.
    own = [c.clip_id for c in queries] + [Path(p).stem for p in distractors]
    sync_bank = entry.sync_bank()
    distances = cost_matrix([video.embed(c.query_vectors) for c in queries], tracks, method)
    if bank := entry.query_bank(sync_bank, video):
        bank_distances = cost_matrix(bank, tracks, method)
        if sync_bank is not None and len(sync_bank):  # the bank is its videos
            bank_distances = _without_own(bank_distances, sync_bank.clip_ids, own)
        distances = csls_distances(distances, hub_radius(bank_distances))
    frames = [c.track_frames for c in queries] + [t["frames"] for t in others]
    beats, structure = _evidence(queries, events, frames, sync_bank, own)
    return fit_sync_weight(distances, beats, fixed=[(structure, STRUCTURE_WEIGHT)])


def _evidence(
    queries: Sequence[ServedClip],
    events: Sequence[TrackEvents],
    frames: Sequence[np.ndarray],
    sync_bank: SyncBank | None,
    own: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """``(n_queries, n_tracks)`` cuts-on-beats scores and structure agreements, each
    centred on the tracks' priors over ``sync_bank`` (``own``: each track's clip id,
    left out of its priors) when there is one, as served."""
    beats, structure = beat_grid_matrix(queries, events), structure_matrix(queries, frames, events)
    if sync_bank is None:
        return beats, structure
    priors = sync_bank.priors(events, frames, own)
    return centre_on_prior(beats, priors.beat), centre_on_prior(structure, priors.structure)


def _without_own(
    bank_distances: np.ndarray, bank_ids: Sequence[str], track_ids: Sequence[str]
) -> np.ndarray:
    """``(n_bank, n_tracks)`` distances with each track's own bank video (same clip id)
    moved to the track's farthest, out of its nearest neighbours."""
    d = np.array(bank_distances, dtype=np.float64)
    rows = {clip: b for b, clip in enumerate(bank_ids)}
    for j, clip in enumerate(track_ids):
        if clip in rows:
            d[rows[clip], j] = d[:, j].max()
    return d


def record_sync_weight(
    model_dir: Path,
    dataset_dir: Path,
    videos_dir: Path,
    method: str,
    *,
    cut_points: Mapping[str, Sequence[float]] | None = None,
    cache_dir: Path | None = None,
    max_distractors: int = 48,
) -> SyncWeightFit:
    """Give an export the evidence's priors and fit its weight of the cuts-on-beats
    evidence, both from the dataset it was trained on (``videos_dir`` is the folder the
    dataset was built from):

    1. its training clips analysed as queries become its bank of music videos
       (:func:`build_sync_bank`, ``sync_bank`` in its ``model.json``), which gives
       each catalog track its prior (:mod:`ml.sync.prior`);
    2. the weight is fit on the validation clips, the first ``max_distractors``
       training clips' soundtracks as distractors, every track's evidence centred on
       its prior as served, and recorded as ``sync_fusion``.
    """
    from ml.data.dataset import load_dataset
    from ml.export import load_registry_entry, update_registry_entry, write_sync_bank

    clips = load_dataset(dataset_dir).manifest.clips
    split = {
        s: [Path(videos_dir) / c.source for c in clips if c.split == s] for s in ("train", "val")
    }
    video_extractor = model_pipeline(load_registry_entry(model_dir))["video"]
    bank = build_sync_bank(split["train"], video_extractor, cut_points, cache_dir)
    if len(bank):
        write_sync_bank(model_dir, bank, "the training clips, cut as queries are")
    fit = fit_served_sync_weight(
        model_dir,
        split["val"],
        method,
        distractors=split["train"][:max_distractors],
        cut_points=cut_points,
        cache_dir=cache_dir,
    )
    fitted = {**fit.to_dict(), "method": method, "structure_weight": STRUCTURE_WEIGHT}
    update_registry_entry(model_dir, sync_fusion=fitted)
    return fit


def evaluate_model_on_videos(
    model_dir: Path,
    videos: Sequence[Path],
    methods: Sequence[str],
    *,
    cut_points: Mapping[str, Sequence[float]] | None = None,
    bank_videos: Sequence[Path] = (),
    bank_vectors: Sequence[np.ndarray] = (),
    cache_dir: Path | None = None,
    progress=None,
) -> ServedReport:
    """The served path end to end: an exported model (ONNX, as served), test videos
    whose own soundtracks form the catalog, the model's CSLS bank and its fitted
    weight of the cuts-on-beats evidence.

    ``cut_points[stem]`` are a video's known cut points in seconds (the user's
    ``boundaries=``); a video without them is cut by its shots. ``bank_videos`` (cut
    like the queries) and ``bank_vectors`` (``(K, D)`` segment vectors before the video
    branch) replace the model's own bank.
    """
    from ml.export import load_registry_entry

    entry = load_registry_entry(model_dir)
    pipe = model_pipeline(entry)
    music, video = entry.encoder("music", "cpu"), entry.encoder("video", "cpu")
    cut_points = cut_points or {}
    test = _served_clips(entry, videos, cut_points, cache_dir, progress)
    given = [
        analyse_served_query(path, pipe["video"], cut_points.get(Path(path).stem), cache_dir)[
            "vectors"
        ]
        for path in bank_videos
    ] + list(bank_vectors)
    sync_bank = entry.sync_bank()
    bank = [video.embed(vectors) for vectors in given] or entry.query_bank(sync_bank, video)
    beats, structure = _evidence(
        test,
        [c.track_events for c in test],
        [c.track_frames for c in test],
        sync_bank,
        [c.clip_id for c in test],
    )
    report = evaluate_served(
        [video.embed(c.query_vectors) for c in test],
        [music.embed(c.track_vectors) for c in test],
        methods,
        bank=bank or None,
        evidence=beats,
        sync_weight=entry.sync_weight,
        structure=structure,
    )
    report.metadata.update(
        {
            "model": entry.data.get("name"),
            "kind": entry.kind,
            **pipe,
            "bank_source": "given" if given else "model" if bank else "none",
            "sync_bank": len(sync_bank) if sync_bank is not None else 0,
            "query_segmentation": "cut points"
            if all(c.clip_id in cut_points for c in test)
            else "shots"
            if not any(c.clip_id in cut_points for c in test)
            else "mixed",
            "mean_query_segments": float(np.mean([len(c.query_vectors) for c in test])),
            "mean_track_segments": float(np.mean([len(c.track_vectors) for c in test])),
        }
    )
    return report
