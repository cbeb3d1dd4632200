"""`v2m preview VIDEO TRACK_ID -o out.mp4` against a catalog holding one analysed track."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.settings import Settings, get_settings
from cli.main import main
from ml.media.decode import load_audio, probe
from tests.edit_catalog import SR, EditCatalog, build_edit_catalog, find_in_track


def run_v2m(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


@pytest.fixture
def catalog(tmp_path, monkeypatch) -> EditCatalog:
    monkeypatch.setenv("V2M_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield build_edit_catalog(tmp_path, Settings(data_dir=tmp_path / "var"))
    get_settings.cache_clear()


def test_preview_renders_the_video_with_the_planned_music(catalog, tmp_path, capsys) -> None:
    out = tmp_path / "out.mp4"
    argv = ["preview", str(catalog.video), str(catalog.track_id), "-o", str(out)]
    assert run_v2m([*argv, "--boundaries", "2,4.5,6", "--start", "10", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["track_id"] == catalog.track_id
    assert [c["cut_s"] for c in plan["cuts"]] == [2, 4.5, 6]
    assert probe(out).duration_s == pytest.approx(probe(catalog.video).duration_s, abs=0.1)
    rendered = load_audio(out, sr=SR)
    first = plan["spans"][0]
    window = rendered[int(0.1 * SR) : int(min(first["video_end_s"] - 0.1, 3.0) * SR)]
    found = find_in_track(window, catalog.samples) - 0.1
    assert found == pytest.approx(first["track_start_s"], abs=0.005)
    assert np.min(np.abs(catalog.downbeats - (found + plan["lead_in_s"]))) < 0.03


def test_preview_refuses_an_unknown_track_and_bad_cuts(catalog, tmp_path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(SystemExit, match="no track with id 999"):
        main(["preview", str(catalog.video), "999", "-o", str(out)])
    with pytest.raises(SystemExit, match="boundaries"):
        main(["preview", str(catalog.video), "1", "-o", str(out), "--boundaries", "a,b"])
    assert not out.exists()
