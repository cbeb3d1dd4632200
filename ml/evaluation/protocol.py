"""The published video-to-music evaluation protocol (docs/method.md §6), end to end.

Input: the test clips' segment embeddings, one (Kq, d) video sequence (the query) and
one (Kc, d) music sequence (the target) per clip; clip i's answer is target i. For
every ranking cost of :mod:`ml.ranking` and every scenario of
:mod:`ml.evaluation.scenarios`, each query ranks all C targets and the rank of its own
music gives Recall@1/10/25 and the mean rank with a 95% confidence interval. Clip-level
baselines (one vector per clip, e.g. VM-Net) are ranked by squared Euclidean distance.

Output: a :class:`ProtocolReport` that renders as markdown tables shaped like
docs/method.md §7 and as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.evaluation.retrieval import (
    DEFAULT_KS,
    EvaluationError,
    RetrievalScores,
    answer_ranks,
    chance_scores,
    evaluate_ranks,
)
from ml.evaluation.scenarios import SCENARIOS, apply_scenario
from ml.ranking import METHODS, PackedSegments, batch_distances

__all__ = [
    "COST_LABELS",
    "SCENARIO_LABELS",
    "ProtocolReport",
    "clip_level_distances",
    "evaluate_clip_level",
    "run_protocol",
    "segment_level_distances",
    "vanilla_table_by_segmentation",
    "write_report",
]

# Row labels and order of the published tables (docs/method.md §7).
COST_LABELS: dict[str, str] = {
    "centroid": "centroid",
    "single": "single",
    "complete": "complete",
    "nw_dtw": "NW-DTW",
    "sw_dtw": "SW-DTW",
    "trace": "trace",
    "best_trace": "best trace",
    "trace_mean": "trace, mean per pair",
    "best_trace_mean": "best trace, mean per pair",
}
SCENARIO_LABELS: dict[str, str] = {
    "vanilla": "vanilla",
    "crop_query": "crop query",
    "stretch_targets": "stretch targets",
    "crop_stretch": "crop+stretch",
}


@dataclass
class ProtocolReport:
    """Scores of every cost under every scenario, plus clip-level baselines.

    ``segment_level[scenario][method]`` and ``clip_level[name]`` are
    :class:`RetrievalScores`; clip-level baselines have one vector per clip, so they are
    only defined for the vanilla scenario.
    """

    n_clips: int
    segment_level: dict[str, dict[str, RetrievalScores]]
    clip_level: dict[str, RetrievalScores] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dictionary (chance levels included for reference)."""
        return {
            "n_clips": self.n_clips,
            "chance": chance_scores(self.n_clips),
            "segment_level": {
                scenario: {method: s.to_dict() for method, s in by_method.items()}
                for scenario, by_method in self.segment_level.items()
            },
            "clip_level": {name: s.to_dict() for name, s in self.clip_level.items()},
            "metadata": self.metadata,
        }

    def to_markdown(self) -> str:
        """Two tables: mean rank per cost x scenario (best per column in bold, as in
        docs/method.md §7), then Recall@k and the 95% interval of the mean rank."""
        scenarios = [s for s in SCENARIOS if s in self.segment_level]
        methods = [m for m in COST_LABELS if any(m in self.segment_level[s] for s in scenarios)]
        chance = chance_scores(self.n_clips)

        header = "| cost | " + " | ".join(SCENARIO_LABELS[s] for s in scenarios) + " |"
        lines = [
            (
                f"Mean rank of the correct track among C = {self.n_clips} test tracks "
                f"(lower is better; chance = {chance['mean_rank']:.1f})."
            ),
            "",
            header,
            "| --- |" + " --- |" * len(scenarios),
        ]
        best = {s: min(r.mean_rank for r in self.segment_level[s].values()) for s in scenarios}
        for name, scores in self.clip_level.items():
            cells = [_rank_cell(scores.mean_rank, False)] + ["-"] * (len(scenarios) - 1)
            lines.append(f"| {name} (clip level) | " + " | ".join(cells) + " |")
        for method in methods:
            cells = []
            for s in scenarios:
                scores = self.segment_level[s].get(method)
                cells.append(
                    "-"
                    if scores is None
                    else _rank_cell(scores.mean_rank, scores.mean_rank == best[s])
                )
            lines.append(f"| {COST_LABELS[method]} | " + " | ".join(cells) + " |")

        ks = sorted(next(iter(next(iter(self.segment_level.values())).values())).recall)
        lines += [
            "",
            "Recall@k (%) and mean rank with its 95% confidence interval.",
            "",
            "| scenario | cost | " + " | ".join(f"R@{k}" for k in ks) + " | mean rank [95% CI] |",
            "| --- | --- |" + " --- |" * (len(ks) + 1),
        ]
        rows = [("vanilla", f"{n} (clip level)", s) for n, s in self.clip_level.items()]
        rows += [
            (s, COST_LABELS[m], self.segment_level[s][m])
            for s in scenarios
            for m in methods
            if m in self.segment_level[s]
        ]
        for scenario, label, scores in rows:
            recalls = " | ".join(f"{100 * scores.recall[k]:.1f}" for k in ks)
            low, high = scores.rank_ci95
            lines.append(
                f"| {SCENARIO_LABELS[scenario]} | {label} | {recalls} | "
                f"{scores.mean_rank:.1f} [{low:.1f}, {high:.1f}] |"
            )
        return "\n".join(lines) + "\n"


def _rank_cell(value: float, bold: bool) -> str:
    text = f"{value:.1f}"
    return f"**{text}**" if bold else text


def segment_level_distances(
    queries: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    method: str,
    indel: float | None = None,
) -> np.ndarray:
    """(n_queries, n_targets) matrix of one ranking cost (lower is better).

    ``indel`` is the gap penalty of the DTWs (None: docs/method.md's 0.05 / 0.01).
    Malformed sequences raise the :class:`ml.ranking.RankingInputError` subclasses.
    """
    if method not in METHODS:
        raise EvaluationError(f"unknown method {method!r}; expected one of {METHODS}")
    packed = PackedSegments.from_sequences(targets)
    rows = np.arange(len(targets), dtype=np.int64)
    return np.stack(
        [
            batch_distances(np.asarray(q, dtype=np.float32), packed, rows, method, indel=indel)
            for q in queries
        ]
    )


def clip_level_distances(query_vectors: np.ndarray, target_vectors: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between one vector per query and one per target."""
    q = np.asarray(query_vectors, dtype=np.float64)
    t = np.asarray(target_vectors, dtype=np.float64)
    if q.ndim != 2 or t.ndim != 2 or q.shape[1] != t.shape[1]:
        raise EvaluationError(f"clip vectors must be (C, d) with one d, got {q.shape}, {t.shape}")
    return (q**2).sum(1)[:, None] - 2.0 * q @ t.T + (t**2).sum(1)[None, :]


def evaluate_clip_level(
    query_vectors: np.ndarray, target_vectors: np.ndarray, ks: tuple[int, ...] = DEFAULT_KS
) -> RetrievalScores:
    """Retrieval scores of a clip-level model (query i's answer is target i)."""
    distances = clip_level_distances(query_vectors, target_vectors)
    return evaluate_ranks(answer_ranks(distances), distances.shape[1], ks)


def run_protocol(
    queries: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    *,
    methods: Sequence[str] = METHODS,
    scenarios: Sequence[str] = SCENARIOS,
    clip_baselines: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ks: tuple[int, ...] = DEFAULT_KS,
    metadata: Mapping | None = None,
) -> ProtocolReport:
    """Rank every target for every query under every cost and scenario.

    Parameters
    ----------
    queries, targets : sequences of np.ndarray, shapes (Kq_i, d) and (Kc_i, d)
        Video-branch embeddings of each test clip's segments and music-branch
        embeddings of the same clip's segments; query i's answer is target i.
    methods : ranking costs from :data:`ml.ranking.METHODS`.
    scenarios : from :data:`ml.evaluation.scenarios.SCENARIOS`.
    clip_baselines : optional ``{name: (query_vectors, target_vectors)}``, each (C, d),
        for clip-level models such as VM-Net (reported in the vanilla column).
    metadata : free JSON-ready information kept in the report (model, segmentation...).
    """
    if len(queries) != len(targets) or len(queries) == 0:
        raise EvaluationError(
            f"need one target per query, got {len(queries)} queries and {len(targets)} targets"
        )
    n_clips = len(queries)
    segment_level: dict[str, dict[str, RetrievalScores]] = {}
    for scenario in scenarios:
        scenario_queries, scenario_targets = apply_scenario(scenario, list(queries), list(targets))
        segment_level[scenario] = {}
        for method in methods:
            distances = segment_level_distances(scenario_queries, scenario_targets, method)
            segment_level[scenario][method] = evaluate_ranks(answer_ranks(distances), n_clips, ks)
    clip_level = {
        name: evaluate_clip_level(q, t, ks) for name, (q, t) in (clip_baselines or {}).items()
    }
    return ProtocolReport(
        n_clips=n_clips,
        segment_level=segment_level,
        clip_level=clip_level,
        metadata=dict(metadata or {}),
    )


def vanilla_table_by_segmentation(reports: Mapping[str, ProtocolReport]) -> str:
    """The first table of docs/method.md §7: vanilla mean rank, one column per segmentation
    method (``{"Foote": report, "OLDA": report, ...}``), best per column in bold."""
    if not reports:
        raise EvaluationError("no reports")
    names = list(reports)
    lines = [
        "| cost | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    vanilla = {n: reports[n].segment_level.get("vanilla", {}) for n in names}
    best = {n: min((s.mean_rank for s in vanilla[n].values()), default=np.nan) for n in names}
    for method, label in COST_LABELS.items():
        if not any(method in vanilla[n] for n in names):
            continue
        cells = [
            "-"
            if method not in vanilla[n]
            else _rank_cell(vanilla[n][method].mean_rank, vanilla[n][method].mean_rank == best[n])
            for n in names
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    report: ProtocolReport, out_dir: str | Path, stem: str = "evaluation"
) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.json`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown_path = out_dir / f"{stem}.md"
    json_path = out_dir / f"{stem}.json"
    markdown_path.write_text(report.to_markdown(), encoding="utf-8")
    json_path.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return markdown_path, json_path
