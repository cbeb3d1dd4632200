"""Track-level automatic tags and the vocals score (pure arithmetic on taggrams)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.features.musicnn.extractor import MSD_TAGS, MTT_TAGS, TAG_NAMES
from ml.features.registry import get_extractor
from ml.features.tags import (
    TagsError,
    TrackTags,
    merge_tags,
    tags_for_words,
    track_tags,
    vocal_score,
)


def _confidences(names, **values) -> np.ndarray:
    row = np.zeros(len(names), np.float32)
    for name, value in values.items():
        row[list(names).index(name.replace("_", " "))] = value
    return row


def test_track_tags_is_the_mean_over_seconds():
    taggram = np.array([[0.1, 0.5], [0.3, 0.7], [0.2, 0.0]])
    tags = track_tags(taggram, ("a", "b"), "audio/x@1")
    np.testing.assert_allclose(tags.confidences, [0.2, 0.4], rtol=1e-6)
    assert tags.top(1) == {"b": 0.4}
    assert list(tags.top(5)) == ["b", "a"]


@pytest.mark.parametrize(
    "taggram, names",
    [(np.zeros((0, 2)), ("a", "b")), (np.zeros((3, 2)), ("a",)), (np.zeros(2), ("a", "b"))],
)
def test_track_tags_refuses_bad_shapes(taggram, names):
    with pytest.raises(TagsError, match="taggram"):
        track_tags(taggram, names, "x")


def test_track_tags_refuse_values_outside_zero_one_and_repeated_names():
    with pytest.raises(TagsError, match="within"):
        TrackTags(("a", "b"), np.array([0.1, 1.5]), "x")
    with pytest.raises(TagsError, match="distinct"):
        TrackTags(("Rock", "rock "), np.array([0.1, 0.2]), "x")


def test_vocal_score_compares_the_strongest_voice_and_no_voice_tags():
    sung = _confidences(MSD_TAGS, female_vocalists=0.3, instrumental=0.1)
    instrumental = _confidences(MSD_TAGS, male_vocalists=0.02, instrumental=0.18)
    silent = _confidences(MSD_TAGS)
    scores = vocal_score(MSD_TAGS, np.stack([sung, instrumental, silent]))
    np.testing.assert_allclose(scores, [0.75, 0.1, 0.5])


def test_vocal_score_reads_the_other_vocabulary_too():
    row = _confidences(MTT_TAGS, vocal=0.1, singing=0.2, no_vocals=0.2)
    assert vocal_score(MTT_TAGS, row[None])[0] == pytest.approx(0.5)


def test_vocal_score_is_nan_without_tags_or_without_vocal_tags():
    rows = np.full((1, len(MSD_TAGS)), np.nan)
    assert np.isnan(vocal_score(MSD_TAGS, rows)).all()
    assert np.isnan(vocal_score(("rock", "pop"), np.array([[0.5, 0.5]]))).all()
    with pytest.raises(TagsError):
        vocal_score(MSD_TAGS, np.zeros((1, 3)))


def test_only_a_tagging_extractor_tags():
    y = np.random.default_rng(0).standard_normal(22050 * 2).astype(np.float32) * 0.1
    handcrafted = get_extractor("handcrafted", "audio")
    features, tags = handcrafted.extract_tagged(y, 22050)
    assert tags is None and features.shape == (2, handcrafted.dim)


def test_every_word_stands_for_tags_of_the_served_vocabulary():
    from ml.features.tags import TAG_SYNONYMS, normalize_tag

    vocabulary = {normalize_tag(t) for t in TAG_NAMES}
    for word, tags in TAG_SYNONYMS.items():
        assert word == normalize_tag(word) and word not in vocabulary, word
        assert tags and set(tags) <= vocabulary, (word, set(tags) - vocabulary)


def test_words_become_their_tags_and_unknown_words_are_refused():
    from ml.features.tags import tags_for_words

    assert tags_for_words([" Calm", "acoustic", "MELLOW"], MSD_TAGS) == (
        "mellow",
        "chill",
        "easy listening",
        "acoustic",
    )
    assert tags_for_words([], MSD_TAGS) == ()
    with pytest.raises(TagsError) as refused:
        tags_for_words(["calm", "strings", "piano"], MSD_TAGS)
    message = str(refused.value)
    assert "'strings', 'piano' not among" in message and "'calm'" not in message
    assert "easy listening" in message and "energetic" in message
    # A word whose tags the vocabulary lacks is no synonym there.
    with pytest.raises(TagsError):
        tags_for_words(["calm"], ("rock", "pop"))


def test_two_vocabularies_merge_into_one_list_the_first_keeping_shared_tags():
    first = TrackTags(("rock", "Mellow", "instrumental"), np.array([0.5, 0.2, 0.9]), "a")
    second = TrackTags(("strings", "rock", "piano"), np.array([0.7, 0.1, 0.3]), "b")
    merged = merge_tags(first, second)
    assert merged.names == ("rock", "Mellow", "instrumental", "strings", "piano")
    np.testing.assert_allclose(merged.confidences, [0.5, 0.2, 0.9, 0.7, 0.3])
    assert merged.source == "a"


def test_instruments_are_words_for_the_served_vocabulary():
    assert tags_for_words(["strings", "Piano"], TAG_NAMES) == ("strings", "piano")
    assert tags_for_words(["orchestral"], TAG_NAMES) == ("classical", "strings", "violin", "cello")
    with pytest.raises(TagsError, match="'bagpipes' not among"):
        tags_for_words(["calm", "bagpipes"], TAG_NAMES)
