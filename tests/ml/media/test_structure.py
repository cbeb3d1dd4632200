"""MSAF boundaries on real generated audio with a known structure."""

from __future__ import annotations

import json
import subprocess
import sys

import mir_eval
import numpy as np
import pytest

from ml.media.structure import (
    METHODS,
    StructureFeatures,
    merge_short_segments,
    msaf_boundaries,
    segment_file,
    segment_structure,
    segment_structures,
    structure_features,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def song_features(sectioned_song) -> StructureFeatures:
    return structure_features(sectioned_song.y, sectioned_song.sr)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_finds_the_sections(method, sectioned_song, song_features) -> None:
    boundaries = segment_structures(
        sectioned_song.y, sectioned_song.sr, (method,), features=song_features
    )[method]
    truth = sectioned_song.boundaries_s
    precision, recall, _ = mir_eval.segment.detection(
        np.c_[truth[:-1], truth[1:]],
        np.c_[boundaries[:-1], boundaries[1:]],
        window=3.0,
        trim=True,  # 0 and the end are given, not found
    )
    assert recall >= 0.8, (method, boundaries)
    assert precision >= 0.5, (method, boundaries)
    assert boundaries[0] == 0.0
    assert boundaries[-1] == pytest.approx(len(sectioned_song.y) / sectioned_song.sr)
    assert np.all(np.diff(boundaries) >= 2.0)


def test_equals_msaf_process_on_the_same_samples(sectioned_song, song_features) -> None:
    """Our shared feature pass feeds MSAF exactly what msaf.process computes itself."""
    from ml import compat

    compat.apply()
    import msaf

    for method in ("olda", "foote"):  # olda reads PCP and MFCC, foote PCP
        expected, _ = msaf.process(str(sectioned_song.path), boundaries_id=method)
        np.testing.assert_array_equal(msaf_boundaries(song_features, method), expected)


def test_file_and_signal_agree_and_repeat(second_song) -> None:
    from ml.media.decode import load_audio

    y = load_audio(second_song.path, sr=22050)
    from_signal = segment_structure(y, 22050, "sf")
    np.testing.assert_array_equal(segment_file(second_song.path, "sf"), from_signal)


SEGMENT_IN_A_PROCESS = """
import json, sys
from ml.media.decode import load_audio
from ml.media.structure import segment_structures
y = load_audio(sys.argv[1], sr=22050)
print(json.dumps({m: b.tolist() for m, b in segment_structures(y, 22050).items()}))
"""


def _start(path: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SEGMENT_IN_A_PROCESS, path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return json.loads(out)


def test_two_processes_at_once_equal_one_at_a_time(sectioned_song, second_song) -> None:
    paths = [str(sectioned_song.path), str(second_song.path)]
    one_at_a_time = [_result(_start(p)) for p in paths]
    running = [_start(p) for p in paths]  # both before waiting for either
    at_once = [_result(p) for p in running]
    assert at_once == one_at_a_time
    assert one_at_a_time[0] != one_at_a_time[1]


def test_merge_short_segments() -> None:
    # [30, 31] joins its shorter neighbour, [1.4, 30] (28.6 s < 29.05 s): 30 goes.
    b = np.array([0.0, 1.4, 30.0, 31.0, 60.0, 60.05])
    np.testing.assert_array_equal(merge_short_segments(b, 2.0), [0.0, 31.0, 60.05])
    np.testing.assert_array_equal(merge_short_segments(b, 0.0), b)
    np.testing.assert_array_equal(merge_short_segments([0.0, 1.0], 2.0), [0.0, 1.0])
    with pytest.raises(ValueError):
        merge_short_segments([0.0, 5.0, 5.0, 9.0], 1.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda y: segment_structure(y, 22050, "cnmf"),
        lambda y: segment_structure(y[:, None], 22050, "sf"),
        lambda y: segment_structure(y, 0, "sf"),
        lambda y: segment_structure(np.full(100, np.nan, np.float32), 22050, "sf"),
        lambda y: segment_structure((y * 1000).astype(np.int16), 22050, "sf"),
        lambda y: segment_structure(y, 22050, "sf", min_segment_s=-1),
    ],
)
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call(np.zeros(22050, np.float32))
