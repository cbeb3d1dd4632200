"""Query options naming automatic tags: normalised, checked against the tagger's
vocabulary, and carried through a background job's parameters."""

from __future__ import annotations

import pytest

from app.services.options import query_options
from app.services.recommend import QueryError, options_from_params, options_to_params


def test_tags_are_normalised_and_round_trip_through_job_params():
    options = query_options(
        vocals=False, auto_tags=["Acoustic", "mellow,acoustic"], auto_tag_min=0.3,
        prefer="Chill, folk",
    )  # fmt: skip
    assert options.filters.auto_tags == {"acoustic", "mellow"}
    assert options.filters.vocals is False and options.filters.auto_tag_min == 0.3
    assert options.prefer == ("chill", "folk")
    assert options_from_params(options_to_params(options)) == options


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # "calm" and "strings" are words for the tagger's tags; "bagpipes" is not.
        ({"prefer": "calm,strings,bagpipes"}, "prefer: 'bagpipes' not among the automatic tags"),
        ({"auto_tags": ["no such tag"]}, "auto_tag: 'no such tag'"),
        ({"auto_tag_min": 1.2}, "auto_tag_min"),
    ],
)
def test_unknown_tags_and_bad_thresholds_are_refused(kwargs, message):
    with pytest.raises(QueryError, match=message):
        query_options(**kwargs)
