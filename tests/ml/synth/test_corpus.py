"""generate_corpus: real files that ffmpeg reads, a manifest that matches
them, resumability, and refusal to mix parameters."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ml.synth import ClipSpec, Manifest, SynthSpecError, generate_clip, generate_corpus
from ml.synth.__main__ import main as synth_cli
from ml.synth.corpus import clip_seed


def test_manifest_lists_every_clip_with_its_files(tiny_corpus):
    manifest = Manifest.load(tiny_corpus)
    assert len(manifest) == 3 and manifest.seed == 2024 and manifest.track_format == "flac"
    assert [c.clip_id for c in manifest] == ["clip_00000", "clip_00001", "clip_00002"]
    for record in manifest:
        assert manifest.path(record.video).is_file() and manifest.path(record.track).is_file()
        assert record.seed == clip_seed(2024, record.index)
        for key in (
            "segment_boundaries_s",
            "section_labels",
            "shot_boundaries_s",
            "beats_s",
            "downbeats_s",
            "tempo_bpm",
            "beats_per_bar",
            "clip_style",
            "section_styles",
            "tags",
        ):
            assert key in record.truth
        assert record.tags
    assert not list(tiny_corpus.rglob(".*partial*"))


def test_media_decode_and_durations_match_the_manifest(tiny_corpus, media, tiny_spec):
    manifest = Manifest.load(tiny_corpus)
    for record in manifest:
        info = media.ffprobe(manifest.path(record.video))
        streams = {s["codec_type"]: s for s in info["streams"]}
        assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
        assert (streams["video"]["width"], streams["video"]["height"]) == (
            tiny_spec.width,
            tiny_spec.height,
        )
        assert int(streams["audio"]["sample_rate"]) == tiny_spec.sr
        assert float(streams["video"]["duration"]) == pytest.approx(
            record.duration_s, abs=1.0 / tiny_spec.fps
        )
        assert float(streams["audio"]["duration"]) == pytest.approx(record.duration_s, abs=0.1)
        track = media.ffprobe(manifest.path(record.track))
        assert track["streams"][0]["codec_name"] == "flac"
        assert float(track["format"]["duration"]) == pytest.approx(record.duration_s, abs=1e-3)


def test_files_hold_the_generated_clip(tiny_corpus, media, tiny_spec):
    manifest = Manifest.load(tiny_corpus)
    record = manifest.clips[0]
    clip = generate_clip(record.seed, tiny_spec)
    track = media.decode_audio(manifest.path(record.track), tiny_spec.sr)
    # FLAC keeps the samples (to its bit depth), so what test_clip checks of
    # the arrays -- section changes, beats -- holds for the files.
    np.testing.assert_allclose(track, clip.audio, atol=1e-4)
    frames = media.decode_frames(manifest.path(record.video), tiny_spec.width, tiny_spec.height)
    assert len(frames) == clip.n_frames
    assert np.abs(frames.astype(int) - clip.frames.astype(int)).mean() < 8


def test_decoded_video_cuts_where_the_manifest_says(tiny_corpus, media, tiny_spec):
    manifest = Manifest.load(tiny_corpus)
    for record in manifest:
        frames = media.decode_frames(manifest.path(record.video), tiny_spec.width, tiny_spec.height)
        jumps = media.histogram_jumps(frames)
        cuts = np.round(np.asarray(record.truth["shot_boundaries_s"][1:-1]) * tiny_spec.fps).astype(
            int
        )
        inside = np.delete(jumps, cuts - 1)
        assert jumps[cuts - 1].min() > 2 * inside.max()


@pytest.mark.slow
def test_resume_skips_finished_clips_and_redoes_missing_ones(tmp_path, tiny_spec):
    first = generate_corpus(tmp_path, 2, seed=5, spec=tiny_spec, track_format=None)
    video0 = tmp_path / first.clips[0].video
    video1 = tmp_path / first.clips[1].video
    stamp0 = video0.stat().st_mtime_ns
    # Simulate a crash during clip 1: media written, truth missing.
    (tmp_path / "truth" / "clip_00001.json").unlink()
    os.utime(video1, ns=(0, 0))
    again = generate_corpus(tmp_path, 3, seed=5, spec=tiny_spec, track_format=None)
    assert video0.stat().st_mtime_ns == stamp0  # untouched
    assert video1.stat().st_mtime_ns != 0  # rewritten
    assert len(again) == 3 and again.clips[:2] == first.clips
    assert json.loads((tmp_path / "manifest.json").read_text()) == again.to_dict()
    assert all(c.track is None for c in again)


def test_other_parameters_in_the_same_directory_are_refused(tmp_path, tiny_spec):
    generate_corpus(tmp_path, 1, seed=1, spec=tiny_spec)
    with pytest.raises(SynthSpecError):
        generate_corpus(tmp_path, 1, seed=2, spec=tiny_spec)
    with pytest.raises(SynthSpecError):
        generate_corpus(
            tmp_path, 1, seed=1, spec=ClipSpec(min_duration_s=10.0, max_duration_s=17.0)
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_clips": 0},
        {"workers": 0},
        {"seed": -3},
        {"track_format": "mp4"},
        {"track_format": "../x"},
    ],
)
def test_bad_corpus_arguments_are_refused(tmp_path, kwargs):
    args = {"n_clips": 1, "seed": 0, "track_format": "flac"} | kwargs
    with pytest.raises(SynthSpecError):
        generate_corpus(tmp_path, args.pop("n_clips"), args.pop("seed"), **args)


def test_clip_seeds_are_stable_and_distinct():
    seeds = [clip_seed(7, i) for i in range(1000)]
    assert len(set(seeds)) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert clip_seed(7, 3) == seeds[3] and clip_seed(8, 3) != seeds[3]


@pytest.mark.slow
def test_parallel_workers_write_the_same_corpus(tmp_path, tiny_spec):
    serial = generate_corpus(tmp_path / "serial", 2, seed=9, spec=tiny_spec)
    parallel = generate_corpus(tmp_path / "parallel", 2, seed=9, spec=tiny_spec, workers=2)
    assert serial.clips == parallel.clips
    for a, b in zip(serial, parallel):
        assert (serial.root / a.track).read_bytes() == (parallel.root / b.track).read_bytes()


def test_command_line_writes_a_corpus(tmp_path, capsys):
    synth_cli(
        [
            str(tmp_path),
            "--clips",
            "1",
            "--min-duration",
            "10",
            "--max-duration",
            "12",
            "--track-format",
            "none",
        ]
    )
    manifest = Manifest.load(tmp_path)
    assert len(manifest) == 1 and manifest.clips[0].track is None
    assert 10.0 <= manifest.clips[0].duration_s <= 12.0
    assert "1 clips" in capsys.readouterr().out
