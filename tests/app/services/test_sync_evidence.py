"""The training-free evidence the service reads from the catalog's analyses, centred on
each track's prior under the model."""

from __future__ import annotations

import numpy as np

from app.db.arrays import to_blob
from app.db.models import Model, Track, TrackAnalysis, TrackEmbedding, TrackFeatures, TrackStatus
from app.db.session import session_scope
from app.migrate import upgrade
from app.services.sync_evidence import BeatGridEvidence, StructureEvidence
from ml.features.registry import get_extractor


def _track(db, title: str, bpm: float, duration_s: float = 60.0, segmenter: str = "olda") -> int:
    beats = np.arange(0.0, duration_s, 60.0 / bpm)
    track = Track(
        title=title,
        content_hash=title * 8,
        media_key=title * 8,
        status=TrackStatus.ready,
        duration_s=duration_s,
    )
    db.add(track)
    db.flush()
    db.add(
        TrackAnalysis(
            track_id=track.id,
            segmenter=segmenter,
            boundaries=TrackAnalysis.encode(np.array([0.0, 20.0, duration_s])),
            beats=TrackAnalysis.encode(beats),
            downbeats=TrackAnalysis.encode(beats[::4]),
            tempo_bpm=bpm,
            beats_per_bar=4,
        )
    )
    db.flush()
    return track.id


def test_the_track_whose_beats_the_cuts_follow_scores_highest(sqlite_url):
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        slow, right, fast = _track(db, "a", 93.0), _track(db, "b", 120.0), _track(db, "c", 141.0)
        other_segmenter = _track(db, "d", 120.0, segmenter="foote")
        cuts = np.arange(1.0, 20.0, 1.0)  # every two beats at 120 BPM
        evidence = BeatGridEvidence(db, 1, "olda", cuts, 20.0, weight=0.5)
        ids = np.array([slow, right, fast, other_segmenter, 999])
        scores = evidence.scores(ids)
        assert evidence.weight == 0.5
        assert np.argmax(np.nan_to_num(scores, nan=-1)) == 1
        assert scores[1] > 0.99 and scores[0] < 0.7 and scores[2] < 0.7
        # No analysis by the model's segmenter, or no such track: no evidence.
        assert np.isnan(scores[3]) and np.isnan(scores[4])


def test_a_query_without_cuts_has_no_evidence(sqlite_url):
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        track = _track(db, "a", 120.0)
        scores = BeatGridEvidence(db, 1, "olda", [], 12.0, weight=1.0).scores(np.array([track]))
        assert np.isnan(scores).all()


def _features(db, track_id: int, frames: np.ndarray) -> None:
    spec = get_extractor("handcrafted", "audio").spec
    db.add(
        TrackFeatures(
            track_id=track_id,
            extractor=spec.name,
            version=spec.version,
            n_frames=frames.shape[0],
            dim=frames.shape[1],
            values=to_blob(frames.astype(np.float32)),
        )
    )
    db.flush()


def test_structure_evidence_favours_the_music_that_repeats_like_the_picture(sqlite_url):
    rng = np.random.default_rng(0)
    looks = rng.normal(size=(3, 20))

    def sections(order: str, seconds: int, dim: int) -> np.ndarray:
        rows = [looks[ord(c) - 65, :dim] for c in order for _ in range(seconds)]
        return np.asarray(rows) + 0.3 * rng.normal(size=(len(rows), dim))

    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        right, wrong, bare = _track(db, "a", 120.0), _track(db, "b", 120.0), _track(db, "c", 120.0)
        _features(db, right, sections("ABABC", 4, 20))
        _features(db, wrong, sections("AABBC", 4, 20))
        video = sections("ABAB", 4, 12)  # other features, the right track's form
        beats = BeatGridEvidence(db, 1, "olda", np.arange(0.5, 16.0, 1.0), 16.0, weight=1.0)
        evidence = StructureEvidence(db, 1, "handcrafted", video, beats, weight=0.5)
        ids = np.array([right, wrong, bare, 999])
        scores = evidence.scores(ids)
        assert evidence.weight == 0.5
        assert scores[0] > 0.8 and scores[0] > scores[1] + 0.3
        assert np.isnan(scores[2]) and np.isnan(scores[3])  # no features, no track
        # Laid where the cuts fit on the beats: the offsets the beat grid found.
        np.testing.assert_array_equal(beats.offsets(ids[:2]), [0.0, 0.0])
        assert np.isnan(beats.offsets(ids[3:])[0])


def test_each_kind_of_evidence_is_centred_on_the_tracks_prior_under_its_model(sqlite_url):
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        right, hub = _track(db, "a", 120.0), _track(db, "b", 120.0)
        frames = np.random.default_rng(1).normal(size=(40, 8))
        _features(db, right, frames)
        _features(db, hub, frames[::-1].copy())
        models = [Model(name=n, kind="segvmnet", dim=2, path=n, checksum=n) for n in "mn"]
        db.add_all(models)
        db.flush()
        # Under model m the hub fits every bank video's cuts (high priors); the right
        # track has a cuts-on-beats prior and no structure prior. Model n has none.
        for track, beat, structure in ((right, 0.1, None), (hub, 0.6, 0.2)):
            db.add(
                TrackEmbedding(
                    track_id=track,
                    model_id=models[0].id,
                    n_segments=1,
                    dim=2,
                    vectors=to_blob(np.zeros((1, 2), np.float32)),
                    centroid=to_blob(np.zeros(2, np.float32)),
                    beat_prior=beat,
                    structure_prior=structure,
                )
            )
        db.flush()
        ids, cuts, video = np.array([right, hub]), np.arange(1.0, 20.0, 1.0), frames[:20, :5]

        def scores(model: Model) -> tuple[np.ndarray, np.ndarray]:
            beats = BeatGridEvidence(db, model.id, "olda", cuts, 20.0, weight=1.0)
            structure = StructureEvidence(db, model.id, "handcrafted", video, beats)
            return beats.scores(ids), structure.scores(ids)

        (raw_beats, raw_structure), (beats, structure) = scores(models[1]), scores(models[0])
        assert np.isfinite(raw_beats).all() and np.isfinite(raw_structure).all()
        np.testing.assert_allclose(beats, raw_beats - [0.1, 0.6])
        np.testing.assert_allclose(structure, raw_structure - [0.0, 0.2])
