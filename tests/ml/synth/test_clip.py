"""generate_clip: determinism, the form and editing rules, and that the
ground truth describes the arrays."""

from __future__ import annotations

import numpy as np
import pytest

from ml.synth import ClipSpec, SynthSpecError, generate_clip
from ml.synth.clip import MAX_SEGMENT_S, MIN_SEGMENT_S
from ml.synth.style import LATENT_FACTORS, TAG_CATEGORIES

SEEDS = range(6)


@pytest.fixture(scope="module")
def clips(tiny_spec):
    return [generate_clip(seed, tiny_spec) for seed in SEEDS]


def test_same_seed_gives_identical_arrays(clips, tiny_spec):
    again = generate_clip(SEEDS[0], tiny_spec)
    np.testing.assert_array_equal(again.audio, clips[0].audio)
    np.testing.assert_array_equal(again.frames, clips[0].frames)
    assert again.truth == clips[0].truth
    other = generate_clip(SEEDS[0] + 100, tiny_spec)
    assert other.truth != clips[0].truth


def test_lazy_frames_equal_the_frame_array(clips):
    streamed = np.stack(list(clips[1].iter_frames()))
    np.testing.assert_array_equal(streamed, clips[1].frames)


def test_shapes_and_durations_agree(clips, tiny_spec):
    for clip in clips:
        t = clip.truth
        assert clip.audio.dtype == np.float32 and np.abs(clip.audio).max() <= 1.0
        assert len(clip.audio) / clip.sr == pytest.approx(t.duration_s)
        assert clip.frames.shape == (
            round(t.duration_s * clip.fps),
            tiny_spec.height,
            tiny_spec.width,
            3,
        )
        assert tiny_spec.min_duration_s <= t.duration_s <= tiny_spec.max_duration_s


def test_form_respects_segment_lengths_and_repeats(clips):
    for clip in clips:
        t = clip.truth
        bounds = np.asarray(t.segment_boundaries_s)
        assert bounds[0] == 0.0 and bounds[-1] == pytest.approx(t.duration_s)
        lengths = np.diff(bounds)
        assert np.all((lengths >= MIN_SEGMENT_S - 1e-6) & (lengths <= MAX_SEGMENT_S + 1e-6))
        assert len(t.section_labels) == len(lengths) >= 2
        assert all(a != b for a, b in zip(t.section_labels, t.section_labels[1:]))
        for label in set(t.section_labels):
            same = [i for i, lab in enumerate(t.section_labels) if lab == label]
            assert len({round(lengths[i], 6) for i in same}) == 1
            assert len({str(t.section_styles[i]) for i in same}) == 1


@pytest.mark.parametrize("lo, hi", [(10.0, 12.0), (30.0, 31.0), (60.0, 120.0)])
def test_durations_stay_in_range_with_whole_bars(lo, hi):
    """Whole bars plus per-section tempo nudges reach even narrow ranges."""
    spec = ClipSpec(min_duration_s=lo, max_duration_s=hi)
    for seed in range(40):
        truth = generate_clip(seed, spec).truth
        assert lo <= truth.duration_s <= hi
        lengths = np.diff(truth.segment_boundaries_s)
        assert lengths.min() >= MIN_SEGMENT_S - 1e-6 and lengths.max() <= MAX_SEGMENT_S + 1e-6


def test_repeated_sections_are_the_same_music():
    spec = ClipSpec(min_duration_s=40.0, max_duration_s=60.0)
    for seed in range(20):
        clip = generate_clip(seed, spec)
        labels = clip.truth.section_labels
        repeats = [
            (i, j)
            for i in range(len(labels))
            for j in range(i + 1, len(labels))
            if labels[i] == labels[j]
        ]
        if repeats:
            break
    else:
        pytest.fail("no clip with a repeated section among 20 seeds")
    i, j = repeats[0]
    b = (np.asarray(clip.truth.segment_boundaries_s) * clip.sr).round().astype(int)
    first, second = clip.audio[b[i] : b[i + 1]], clip.audio[b[j] : b[j + 1]]
    n = min(len(first), len(second))
    # Identical arrangement; only the clip-wide peak normalisation is shared.
    np.testing.assert_allclose(first[:n], second[:n], atol=1e-6)


def test_beats_downbeats_and_tempo(clips):
    for clip in clips:
        t = clip.truth
        beats, downbeats = np.asarray(t.beats_s), np.asarray(t.downbeats_s)
        assert np.all(np.diff(beats) > 0) and beats[0] == 0.0 and beats[-1] < t.duration_s
        assert np.all(np.isin(downbeats, beats))
        assert np.all(np.isin(np.round(t.segment_boundaries_s[:-1], 9), np.round(downbeats, 9)))
        assert len(beats) == t.beats_per_bar * len(downbeats)
        assert t.beats_per_bar in (3, 4)
        assert min(t.section_tempi_bpm) <= t.tempo_bpm <= max(t.section_tempi_bpm)
        for k, (a, b) in enumerate(zip(t.segment_boundaries_s[:-1], t.segment_boundaries_s[1:])):
            inside = beats[(beats >= a) & (beats < b - 1e-9)]
            np.testing.assert_allclose(np.diff(inside), 60.0 / t.section_tempi_bpm[k], rtol=1e-9)


def test_shots_cut_at_sections_and_on_downbeats(clips):
    for clip in clips:
        t = clip.truth
        shots = np.asarray(t.shot_boundaries_s)
        frame = 1.0 / clip.fps
        assert shots[0] == 0.0 and shots[-1] == pytest.approx(clip.n_frames / clip.fps)
        for b in t.segment_boundaries_s[:-1]:
            assert np.min(np.abs(shots - b)) <= frame / 2 + 1e-9
        for s in shots[1:-1]:
            assert np.min(np.abs(np.asarray(t.downbeats_s) - s)) <= frame / 2 + 1e-9
        assert len(t.shot_sections) == len(shots) - 1
        assert np.all(np.diff(t.shot_sections) >= 0)
    n_shots = sum(len(c.truth.shot_boundaries_s) - 1 for c in clips)
    n_segments = sum(len(c.truth.section_labels) for c in clips)
    assert n_shots > n_segments  # the editing is finer than the music form


def test_colour_jumps_exactly_at_the_cuts(clips, media):
    for clip in clips:
        jumps = media.histogram_jumps(clip.frames)
        cuts = np.round(np.asarray(clip.truth.shot_boundaries_s[1:-1]) * clip.fps).astype(int)
        inside = np.delete(jumps, cuts - 1)
        assert jumps[cuts - 1].min() > 2 * inside.max()


def timbre_frames(
    y: np.ndarray, sr: int, hop: int = 512, n_fft: int = 2048
) -> tuple[np.ndarray, float]:
    """Loudness (dB / 6), log2 spectral centroid and flatness per STFT frame."""
    m = (len(y) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(m)[:, None]
    power = np.abs(np.fft.rfft(y[index] * np.hanning(n_fft), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    total = power.sum(axis=1) + 1e-12
    flatness = np.exp(np.log(power + 1e-12).mean(axis=1)) / (power.mean(axis=1) + 1e-12)
    features = np.stack(
        [10 * np.log10(total) / 6, np.log2((power * freqs).sum(axis=1) / total + 1), 10 * flatness],
        1,
    )
    return features, sr / hop


def test_music_changes_most_at_section_boundaries():
    spec = ClipSpec(min_duration_s=20.0, max_duration_s=40.0)
    at_boundaries, inside = [], []
    for seed in range(8):
        clip = generate_clip(seed, spec)
        features, rate = timbre_frames(clip.audio, clip.sr)

        def change(t: float, features: np.ndarray = features, rate: float = rate) -> float:
            before = features[int((t - 2) * rate) : int(t * rate)].mean(axis=0)
            after = features[int(t * rate) : int((t + 2) * rate)].mean(axis=0)
            return float(np.linalg.norm(after - before))

        bounds = clip.truth.segment_boundaries_s
        at_boundaries += [change(b) for b in bounds[1:-1]]
        for a, b in zip(bounds[:-1], bounds[1:]):
            inside += [change(t) for t in np.arange(a + 2.0, b - 2.0 + 1e-9, 0.5)]
    at_boundaries, inside = np.asarray(at_boundaries), np.asarray(inside)
    # Probability that a boundary changes more than a point inside a section.
    auc = float((at_boundaries[:, None] > inside[None, :]).mean())
    assert auc > 0.75
    assert np.median(at_boundaries) > 1.5 * np.median(inside)


def test_tags_are_derived_from_the_style(clips):
    for clip in clips:
        tags = clip.truth.tags
        assert tags[clip.truth.clip_style["genre"]] == 1.0
        assert any(k in tags for k in ("slow", "mid-tempo", "fast"))
        assert any(k in tags for k in ("major", "minor"))
        instruments = {s["instrument"] for s in clip.truth.section_styles}
        assert instruments <= set(tags)
        assert all(0.0 < w <= 1.0 for w in tags.values())
        assert ("waltz" in tags) == (clip.truth.beats_per_bar == 3)
        vocabulary = {
            tag for tags_of_category in TAG_CATEGORIES.values() for tag in tags_of_category
        }
        assert set(tags) <= vocabulary


def test_styles_vary_across_clips():
    spec = ClipSpec(min_duration_s=10.0, max_duration_s=12.0)
    truths = [generate_clip(seed, spec).truth for seed in range(100, 124)]
    assert len({t.clip_style["genre"] for t in truths}) >= 5
    assert len({s["instrument"] for t in truths for s in t.section_styles}) >= 5
    assert len({s["texture"] for t in truths for s in t.section_styles}) == 3
    assert np.ptp([t.tempo_bpm for t in truths]) > 30
    latents = np.asarray([t.clip_style["latent"] for t in truths])
    assert latents.shape[1] == len(LATENT_FACTORS) and np.all(latents.std(axis=0) > 0.2)


def test_music_and_picture_share_the_latent():
    """Across many sections, the audio and picture parameters that decode the
    same latent axis correlate; the nuisances do not."""
    spec = ClipSpec(min_duration_s=10.0, max_duration_s=12.0)
    rows = []
    for seed in range(40):
        t = generate_clip(seed, spec).truth
        for s in t.section_styles:
            rows.append(
                (
                    s["loudness_db"],
                    np.log(s["motion_px_s"]),
                    s["rolloff"],
                    s["texture_cycles"],
                    t.clip_style["key_root"],
                    s["n_objects"],
                )
            )
    loud, motion, rolloff, cycles, key, objects = np.asarray(rows).T
    assert np.corrcoef(loud, motion)[0, 1] > 0.4  # energy
    assert np.corrcoef(rolloff, cycles)[0, 1] < -0.4  # brightness
    assert abs(np.corrcoef(key, objects)[0, 1]) < 0.3  # the key is a nuisance


def test_noise_free_decoder_is_a_function_of_the_latent():
    spec = ClipSpec(min_duration_s=10.0, max_duration_s=12.0, noise=0.0)
    truth = generate_clip(5, spec).truth
    for s in truth.section_styles:
        energy = s["latent"][0]
        assert s["motion_px_s"] == pytest.approx(18.0 * 2.0 ** (1.6 * energy))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_duration_s": 5.0, "max_duration_s": 10.0},
        {"min_duration_s": 30.0, "max_duration_s": 20.0},
        {"max_duration_s": 500.0},
        {"width": 191},
        {"sr": 1000},
        {"noise": -1.0},
    ],
)
def test_bad_specs_are_refused(kwargs):
    with pytest.raises(SynthSpecError):
        ClipSpec(**kwargs)


def test_bad_seed_is_refused():
    with pytest.raises(SynthSpecError):
        generate_clip(-1)
