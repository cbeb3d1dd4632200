"""Built corpora: files the service can decode, cuts where the truth says, the source's
own soundtrack, splits by recording, two worlds that differ, and determinism.

Cuts are found here independently of the renderer: from the decoded video alone, a
hard cut is a frame whose mean absolute difference to the previous one exceeds
``CUT_LEVEL`` 8-bit levels. Both worlds keep motion within a shot well below that
(grain and motion give a few levels) and make consecutive shots differ well above it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from ml.corpora import music
from ml.corpora.build import build_corpus
from ml.corpora.excerpts import split_of
from ml.corpora.sources import find_recordings, read_excerpt
from ml.media.decode import load_audio, load_video_frames, probe

pytestmark = pytest.mark.slow

#: Frame difference (mean absolute, 8-bit levels) above which a frame starts a new shot.
CUT_LEVEL = 15.0
SR = 22050


def _frames(folder: Path, clip: dict) -> np.ndarray:
    return load_video_frames(folder / clip["file"], clip["fps"], clip["width"], clip["height"])


def _steps(frames: np.ndarray) -> np.ndarray:
    """``d[i]`` = mean |frame i - frame i-1| (``d[0] = 0``)."""
    f = frames.astype(np.float32)
    return np.r_[0.0, np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))]


def _gradual_frames(clip: dict) -> set[int]:
    spans = set()
    for cut in clip["cuts"]:
        if cut["kind"] != "hard":
            first = round(cut["start"] * clip["fps"])
            spans |= set(range(first, round(cut["end"] * clip["fps"]) + 1))
    return spans


@pytest.fixture(scope="module", params=["b", "c"])
def corpus(request, corpus_b, corpus_c):
    return {"b": corpus_b, "c": corpus_c}[request.param]


def test_corpus_has_the_planned_clips_in_split_folders(corpus):
    folder, truth = corpus
    assert len(truth["clips"]) == 3
    on_disk = json.loads((folder / "truth.json").read_text())
    assert on_disk == json.loads(json.dumps(truth))
    for clip in truth["clips"]:
        assert clip["file"] == f"{clip['split']}/{clip['clip_id']}.mp4"
        assert (folder / clip["file"]).is_file()
        assert 20.0 <= clip["duration"] <= 22.0 + 1e-6
        assert clip["licence"] and clip["package"] and clip["recording"]


def test_clips_decode_with_the_service_decoder(corpus):
    folder, truth = corpus
    for clip in truth["clips"]:
        path = folder / clip["file"]
        info = probe(path)
        assert (info.video_codec, info.audio_codec) == ("h264", "aac")
        assert (info.width, info.height) == (192, 108)
        assert info.fps == pytest.approx(25.0)
        assert info.duration_s == pytest.approx(clip["duration"], abs=0.1)
        frames = _frames(folder, clip)
        assert abs(len(frames) - clip["n_frames"]) <= 1
        assert load_audio(path, SR).size == pytest.approx(clip["duration"] * SR, abs=0.05 * SR)


def test_hard_cuts_are_where_the_truth_says(corpus):
    folder, truth = corpus
    n_hard = 0
    for clip in truth["clips"]:
        steps = _steps(_frames(folder, clip))
        hard = [c["frame"] for c in clip["cuts"] if c["kind"] == "hard"]
        n_hard += len(hard)
        for frame in hard:
            assert steps[frame] > CUT_LEVEL, (clip["clip_id"], frame, steps[frame])
        gradual = _gradual_frames(clip)
        detected = [i for i in np.flatnonzero(steps > CUT_LEVEL) if i not in gradual]
        assert sorted(detected) == sorted(hard), clip["clip_id"]
    assert n_hard >= 6  # ~20 s clips: several shots each


def test_gradual_transitions_change_the_picture_step_by_step(corpus_b, corpus_c):
    seen = 0
    for folder, truth in (corpus_b, corpus_c):
        for clip in truth["clips"]:
            gradual = [c for c in clip["cuts"] if c["kind"] != "hard"]
            if not gradual:
                continue
            frames = _frames(folder, clip).astype(np.float32)
            steps = _steps(frames)
            for cut in gradual:
                first = round(cut["start"] * clip["fps"])
                end = round(cut["end"] * clip["fps"])
                # A dissolve goes from one shot to the next, a fade to black and back.
                across = frames[end] if cut["kind"] == "dissolve" else frames[cut["frame"]]
                change = np.abs(across - frames[first - 1]).mean()
                assert change > CUT_LEVEL, cut
                assert steps[first : end + 1].max() < 0.6 * change, cut
                seen += 1
    if not seen:
        pytest.skip("these tiny corpora hold no gradual transition")


def test_soundtrack_is_the_source_excerpt(corpus):
    folder, truth = corpus
    recordings = {r.id: r for r in find_recordings([truth["clips"][0]["source_package"]])}
    for clip in truth["clips"]:
        rec = recordings[clip["recording_id"]]
        audio, sr = read_excerpt(rec, clip["start"], clip["duration"])
        source = music.to_analysis_signal(audio, sr)
        track = load_audio(folder / clip["file"], SR)
        n = min(len(source), len(track))
        a, b = source[:n] - source[:n].mean(), track[:n] - track[:n].mean()
        corr = np.fft.irfft(np.fft.rfft(a, 2 * n) * np.conj(np.fft.rfft(b, 2 * n)))
        max_lag = int(0.1 * SR)
        window = np.r_[corr[-max_lag:], corr[: max_lag + 1]]
        lag = int(np.argmax(window)) - max_lag
        peak = window[lag + max_lag] / (np.linalg.norm(a) * np.linalg.norm(b))
        assert abs(lag) <= 0.002 * SR, (clip["clip_id"], lag)
        assert peak > 0.95, (clip["clip_id"], peak)


def test_split_is_by_recording(corpus_b):
    folder, truth = corpus_b
    splits = defaultdict(set)
    for clip in truth["clips"]:
        splits[clip["recording_id"]].add(clip["split"])
        assert clip["split"] == split_of(clip["recording_id"])
        assert (folder / clip["split"] / f"{clip['clip_id']}.mp4").is_file()
    assert all(len(s) == 1 for s in splits.values())
    # The plan takes every excerpt of a recording in turn: here two of the first.
    assert len(splits) < len(truth["clips"])


def test_cuts_follow_each_worlds_grid(corpus_b, corpus_c):
    fps = 25.0
    for clip in corpus_b[1]["clips"]:
        beats = np.array(clip["beats"])
        for cut in clip["cuts"]:  # on a beat, or up to 3 frames before a downbeat
            assert np.abs(beats - cut["time"]).min() <= 3.5 / fps, cut
    for clip in corpus_c[1]["clips"]:
        downbeats = np.array(clip["downbeats"])
        for cut in clip["cuts"]:
            if cut["why"] != "accent":  # on the downbeat, at most a frame off
                assert np.abs(downbeats - cut["time"]).min() <= 2.0 / fps, cut
    for _folder, truth in (corpus_b, corpus_c):
        for clip in truth["clips"]:
            starts = [s["start"] for s in clip["sections"]]
            ends = [s["end"] for s in clip["sections"]]
            assert starts[0] == 0.0 and ends[-1] == pytest.approx(clip["duration"])
            assert starts[1:] == ends[:-1]
            assert set(starts[1:]) <= set(clip["downbeats"])
            assert set(clip["downbeats"]) <= set(clip["beats"])


def test_worlds_paint_the_same_excerpt_differently(corpus_b, corpus_c):
    (folder_b, truth_b), (folder_c, truth_c) = corpus_b, corpus_c
    by_id = {c["clip_id"]: c for c in truth_c["clips"]}
    for clip_b in truth_b["clips"]:
        clip_c = by_id[clip_b["clip_id"]]
        assert (clip_c["start"], clip_c["end"]) == (clip_b["start"], clip_b["end"])
        frames_b, frames_c = _frames(folder_b, clip_b), _frames(folder_c, clip_c)
        n = min(len(frames_b), len(frames_c))
        diff = np.abs(frames_b[:n].astype(np.float32) - frames_c[:n]).mean()
        assert diff > 20.0
        times_b = {c["frame"] for c in clip_b["cuts"]}
        times_c = {c["frame"] for c in clip_c["cuts"]}
        assert times_b != times_c


def test_same_seed_same_corpus_and_a_build_resumes(corpus_b, build_tiny):
    folder, truth = corpus_b
    again_folder, again = build_tiny("b", n_clips=1)
    first = truth["clips"][0]
    assert again["clips"][0] == first
    assert (again_folder / first["file"]).read_bytes() == (folder / first["file"]).read_bytes()

    stamps = {c["file"]: (folder / c["file"]).stat().st_mtime_ns for c in truth["clips"]}
    resumed = build_corpus(
        folder,
        "b",
        3,
        7,
        packages=[first["source_package"]],
        log=None,
        min_len_s=20.0,
        max_len_s=22.0,
        max_per_recording=2,
    )
    assert resumed == truth
    assert stamps == {c["file"]: (folder / c["file"]).stat().st_mtime_ns for c in truth["clips"]}
    with pytest.raises(ValueError, match="seed"):
        build_corpus(
            folder,
            "b",
            3,
            8,
            packages=[first["source_package"]],
            log=None,
            min_len_s=20.0,
            max_len_s=22.0,
            max_per_recording=2,
        )
