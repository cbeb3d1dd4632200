"""Automatic tags through the real HTTP API, on a tiny catalog ingested by the tiny model,
whose audio features (handcrafted) include no tagger: ingestion tags every track
whatever the model reads (MusiCNN in a pass of its own). ``tags_auto`` on a track,
the ``vocals`` and ``auto_tag`` filters and ``prefer`` on ``/similar/track`` and
``/recommend/video``, and unknown tag names refused.

The catalog: the soundtracks of a few of the tiny demo's clips (instrumental) and a
generated song with a voice laid over it (espeak-ng, as bench/bench_vocals.py does).

What each answer should be is worked out from the tags the service stored (read from
its database), never written down in advance: which tracks a filter keeps, and the
order ``prefer`` gives (the shortlist's ranking values standardised, each lowered by
at most 0.5 standard deviations in proportion to its confidence on the tag, relative
to the shortlist's best; docs/api.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.db.models import TrackAutoTags
from app.db.session import session_scope
from app.index.search import PREFER_WEIGHT
from app.services.options import auto_tag_vocabulary
from bench.bench_vocals import SENTENCES, VOICES, instrumental, render_voice, with_voice
from cli.demo import upload_track, wait_for_jobs
from ml.features.tags import VOCALS_THRESHOLD, TrackTags
from ml.pipeline.analysis import DECODE_SAMPLE_RATE
from ml.pipeline.track import decode_soundtrack, soundtrack_tags, tagger_tag_names
from ml.synth import write_audio

N_CLIPS = 4
SUNG_S = 10.0


def sung_song(path: Path) -> Path:
    """A generated song with a voice over it."""
    with tempfile.TemporaryDirectory() as tmp:
        voice = render_voice(SENTENCES[0], *VOICES[0], Path(tmp))
    return write_audio(path, with_voice(instrumental(1000, SUNG_S), voice, 0.0), DECODE_SAMPLE_RATE)


def stored_tags(services, track_ids) -> dict[int, TrackTags]:
    """Every tag of each track, as the service stored them."""
    with session_scope(services.settings().sqlalchemy_url) as db:
        rows = db.scalars(select(TrackAutoTags).where(TrackAutoTags.track_id.in_(track_ids)))
        return {r.track_id: TrackTags(tuple(r.names), r.values(), r.source) for r in rows}


def as_indexed(tags: TrackTags) -> np.ndarray:
    """The confidences as the index holds them (float16)."""
    return tags.confidences.astype(np.float16).astype(np.float64)


def widest_split(tags: dict[int, TrackTags]) -> tuple[str, float, set[int]]:
    """The tag whose confidences split the tracks with the widest gap, a threshold in
    the middle of that gap, and the tracks at or above it."""
    ids = sorted(tags)
    names = tags[ids[0]].names
    values = np.stack([as_indexed(tags[i]) for i in ids])
    best = (0.0, "", 0.0, set())
    for column, name in enumerate(names):
        order = np.argsort(values[:, column])
        sorted_values = values[order, column]
        gaps = np.diff(sorted_values)
        at = int(np.argmax(gaps))
        if gaps[at] > best[0]:
            threshold = float(sorted_values[at] + sorted_values[at + 1]) / 2
            best = (float(gaps[at]), name, threshold, {ids[i] for i in order[at + 1 :]})
    gap, name, threshold, above = best
    assert gap > 0.01, "no automatic tag tells these tracks apart"
    return name, round(threshold, 6), above


def steered_order(
    plain: list[dict], tags: dict[int, TrackTags], column: int
) -> tuple[list[int], np.ndarray] | None:
    """The ids of a whole shortlist answered without ``prefer`` in the order ``prefer``
    of one tag gives, and their steered ranking values (lower is better); None for a tag
    no track holds (nothing to steer by)."""
    ids = [r["track_id"] for r in plain]
    ranked = -np.array([r["score"] for r in plain])  # score is the ranking value, negated
    z = (ranked - ranked.mean()) / (ranked.std() if ranked.std() > 0 else 1.0)
    preference = np.array([as_indexed(tags[i])[column] for i in ids])
    if preference.max() <= 0:
        return None
    steered = z - PREFER_WEIGHT * preference / preference.max()
    order = np.argsort(steered, kind="stable")
    return [ids[i] for i in order], steered[order]


def similar_ids(client, track_id: int, **params) -> list[int]:
    answer = client.post("/similar/track", params={"track_id": track_id, "k": 10, **params})
    assert answer.status_code == 200, answer.text
    return [r["track_id"] for r in answer.json()["results"]]


@pytest.mark.slow
def test_automatic_tags_filters_and_prefer_over_http(make_service, driver, tmp_path) -> None:
    client = make_service()
    clips = driver.clip_ids()[:N_CLIPS]
    tracks = driver.ingest(client, clips)  # clip -> track id
    song = sung_song(tmp_path / "sung.flac")
    added = upload_track(client, song, {"title": "sung", "artist": "voice", "license": "CC0"})
    assert wait_for_jobs(client, [added["job_id"]], timeout_s=900)[0]["status"] == "succeeded"
    sung = added["track_id"]
    files = {track_id: driver.track_file(clip) for clip, track_id in tracks.items()}
    files[sung] = song
    ids = sorted(files)
    vocabulary = tagger_tag_names()
    tags = stored_tags(make_service, ids)
    assert sorted(tags) == ids  # ingestion tagged every track

    # tags_auto: the ten most confident of the model's tags, confidences in [0, 1], best
    # first; the tags are those the tagger gives the track's audio on its own.
    for track_id, path in files.items():
        track = client.get(f"/catalog/tracks/{track_id}").json()
        shown = track["tags_auto"]
        assert isinstance(shown, dict) and len(shown) == 10, shown
        assert set(shown) <= set(vocabulary)
        values = list(shown.values())
        assert all(0.0 <= v <= 1.0 for v in values)
        assert values == sorted(values, reverse=True)
        assert shown == tags[track_id].top(10)
        assert tags[track_id].names == vocabulary
        alone = soundtrack_tags(decode_soundtrack(path))
        np.testing.assert_allclose(tags[track_id].confidences, alone.confidences, atol=1e-3)

    # vocals: each track is kept by exactly the filter its vocals score says.
    vocal = {i for i in ids if tags[i].vocal_score >= VOCALS_THRESHOLD}
    # The song with a voice and the instrumental ones must differ, or nothing is tested.
    assert sung in vocal and vocal != set(ids), {i: tags[i].vocal_score for i in ids}
    query = ids[0]
    assert set(similar_ids(client, query, vocals="true")) == vocal - {query}
    assert set(similar_ids(client, query, vocals="false")) == set(ids) - vocal - {query}

    # auto_tag: a tag and a threshold that keep some tracks and exclude the others.
    name, threshold, above = widest_split(tags)
    outside = min(set(ids) - above)  # a track the filter excludes asks for similar ones
    kept = similar_ids(client, outside, auto_tag=name, auto_tag_min=threshold)
    assert set(kept) == above
    assert set(similar_ids(client, outside)) == set(ids) - {outside}  # without the filter
    clip = clips[0]
    cuts = driver.music_cuts(clip)  # the user's cut points: no shot detection
    filtered = driver.recommend(
        client, clip, k=len(ids), boundaries=cuts, auto_tag=name, auto_tag_min=threshold
    )
    assert {r["track_id"] for r in filtered["results"]} == above
    both = driver.recommend(
        client, clip, k=len(ids), boundaries=cuts, auto_tag=name, auto_tag_min=threshold,
        vocals="false",
    )  # fmt: skip
    assert {r["track_id"] for r in both["results"]} == above - vocal

    # prefer: over the whole catalog as the shortlist, the order the bounded bonus gives
    # (a tag that changes the order, when one does); results carry the tracks' tags.
    plain = driver.recommend(client, clip, k=len(ids), shortlist=len(ids), boundaries=cuts)
    plain_ids = [r["track_id"] for r in plain["results"]]
    assert sorted(plain_ids) == ids
    for result in plain["results"]:
        assert result["tags_auto"] == tags[result["track_id"]].top(10)
    candidates = [(steered_order(plain["results"], tags, c), c) for c in range(len(vocabulary))]
    clear = [
        (found[0], found[1], c)
        for found, c in candidates
        if found is not None and np.all(np.diff(found[1]) > 1e-3)  # no near tie to flip
    ]
    assert clear, "no automatic tag orders this shortlist without near ties"
    moved = [x for x in clear if x[0] != plain_ids]
    expected, values, column = (moved or clear)[0]
    prefer = vocabulary[column]
    steered = driver.recommend(
        client, clip, k=len(ids), shortlist=len(ids), boundaries=cuts, prefer=prefer
    )
    assert [r["track_id"] for r in steered["results"]] == expected
    np.testing.assert_allclose([-r["score"] for r in steered["results"]], values, atol=1e-3)
    # Only the order within the shortlist: the same tracks, even for the tag the last
    # track holds most confidently.
    short = driver.recommend(client, clip, k=2, shortlist=2, boundaries=cuts)
    for tag in {prefer, vocabulary[int(np.argmax(as_indexed(tags[plain_ids[-1]])))]}:
        short_steered = driver.recommend(
            client, clip, k=2, shortlist=2, boundaries=cuts, prefer=tag
        )
        assert {r["track_id"] for r in short_steered["results"]} == {
            r["track_id"] for r in short["results"]
        }

    # An unknown tag is refused, and the answer names the known ones.
    known = sorted(auto_tag_vocabulary())
    for params in ({"prefer": "no-such-tag"}, {"auto_tag": "no-such-tag"}):
        answer = client.post("/similar/track", params={"track_id": query, **params})
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["error"] == "invalid_request"
        assert "no-such-tag" in body["detail"] and all(k in body["detail"] for k in known)
    with open(driver.video_file(clip), "rb") as handle:
        answer = client.post(
            "/recommend/video",
            params={"prefer": "mellow,no-such-tag"},
            files={"file": (f"{clip}.mp4", handle, "video/mp4")},
        )
    assert answer.status_code == 422 and "no-such-tag" in answer.json()["detail"], answer.text
    assert "'mellow'" not in answer.json()["detail"].split("not among")[0]
