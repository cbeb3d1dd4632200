"""Tag-based similarity: hand-computed values and the properties S must have."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.similarity.tags import (
    SimilarityError,
    expand_tags,
    idf_tag_weights,
    load_similarity,
    tag_similarity,
    validate_similarity,
    weighted_jaccard,
)


def test_plain_jaccard_hand_computed():
    s = tag_similarity([{"rock", "guitar"}, {"rock", "piano"}, {"jazz"}])
    # {rock, guitar} vs {rock, piano}: 1 shared of 3 distinct.
    assert s[0, 1] == pytest.approx(1 / 3)
    assert s[0, 2] == 0.0 and s[1, 2] == 0.0
    np.testing.assert_array_equal(np.diag(s), [1.0, 1.0, 1.0])


def test_tag_weights_hand_computed():
    s = tag_similarity([{"rock", "guitar"}, {"rock", "piano"}], tag_weights={"rock": 4.0})
    # weighted: intersection 4, union 4 + 1 + 1.
    assert s[0, 1] == pytest.approx(4 / 6)


def test_tag_expansion_hand_computed():
    expansion = {"rock": {"hard rock": 0.5}}
    assert expand_tags({"rock"}, expansion) == {"rock": 1.0, "hard rock": 0.5}
    s = tag_similarity([{"rock"}, {"hard rock"}], expansion=expansion)
    # strengths rock (1, 0), hard rock (0.5, 1): min sum 0.5, max sum 2.
    assert s[0, 1] == pytest.approx(0.25)
    # Without expansion they share nothing.
    assert tag_similarity([{"rock"}, {"hard rock"}])[0, 1] == 0.0


def test_expansion_never_lowers_an_own_tag_and_is_not_transitive():
    expansion = {"a": {"b": 0.3}, "b": {"c": 0.9}}
    assert expand_tags({"a", "b"}, expansion) == {"a": 1.0, "b": 1.0, "c": 0.9}
    assert expand_tags({"a"}, expansion) == {"a": 1.0, "b": 0.3}


def test_idf_weights_favour_rare_tags():
    weights = idf_tag_weights([{"pop", "harp"}, {"pop"}, {"pop"}])
    assert weights["harp"] > weights["pop"] > 0
    assert weights["pop"] == pytest.approx(np.log1p(1.0))


def test_weighted_jaccard_of_empty_vectors_is_zero():
    assert weighted_jaccard(np.zeros(3), np.zeros(3)) == 0.0


tag_sets = st.lists(
    st.sets(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=4), min_size=1, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(tag_sets, st.dictionaries(st.sampled_from(["a", "b", "c"]), st.floats(0.1, 5.0)))
def test_similarity_properties(track_tags, weights):
    s = tag_similarity(track_tags, tag_weights=weights, expansion={"a": {"b": 0.5}})
    assert s.shape == (len(track_tags), len(track_tags))
    np.testing.assert_allclose(s, s.T)
    assert (s >= 0).all() and (s <= 1 + 1e-12).all()
    np.testing.assert_array_equal(np.diag(s), 1.0)
    for i, a in enumerate(track_tags):
        for j, b in enumerate(track_tags):
            if i != j and a and a == b:
                assert s[i, j] == pytest.approx(1.0)  # identical tag sets are identical


def test_more_shared_tags_means_more_similar():
    s = tag_similarity([{"a", "b", "c"}, {"a", "b", "d"}, {"a", "e", "f"}])
    assert s[0, 1] > s[0, 2]


def test_bad_inputs_raise():
    with pytest.raises(SimilarityError):
        tag_similarity([{"a"}, {"b"}], tag_weights={"a": 0.0})
    with pytest.raises(SimilarityError):
        tag_similarity([{"a"}, {"b"}], expansion={"a": {"b": 1.5}})
    with pytest.raises(SimilarityError):
        tag_similarity(["rock", "jazz"])  # strings are not tag sets


def test_user_matrix_validation_and_loading(tmp_path):
    own = np.array([[1.0, 0.2], [0.3, 1.0]])  # need not be symmetric
    np.testing.assert_array_equal(validate_similarity(own), own)
    np.save(tmp_path / "s.npy", own)
    np.testing.assert_array_equal(load_similarity(tmp_path / "s.npy", n_tracks=2), own)
    np.savetxt(tmp_path / "s.csv", own, delimiter=",")
    np.testing.assert_allclose(load_similarity(tmp_path / "s.csv"), own)
    for bad in (np.ones((2, 3)), np.array([[1.0, -0.1], [0.0, 1.0]]), np.array([[np.nan]])):
        with pytest.raises(SimilarityError):
            validate_similarity(bad)
    with pytest.raises(SimilarityError):
        load_similarity(tmp_path / "s.npy", n_tracks=3)
    with pytest.raises(SimilarityError):
        load_similarity(tmp_path / "s.txt")


def test_weighted_tags_hand_computed():
    s = tag_similarity([{"piano": 0.4, "pop": 1.0}, {"piano": 1.0, "pop": 1.0}])
    # min: 0.4 + 1, max: 1 + 1.
    assert s[0, 1] == pytest.approx(1.4 / 2.0)
    # A weighted tag passes its strength on to the tags it implies.
    assert expand_tags({"rock": 0.5}, {"rock": {"hard rock": 0.5}}) == {
        "rock": 0.5,
        "hard rock": 0.25,
    }
    with pytest.raises(SimilarityError):
        tag_similarity([{"piano": 1.5}, {"pop": 1.0}])
