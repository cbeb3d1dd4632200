"""``v2m analyse-sync``: the command line reaches the synchronisation study."""

from __future__ import annotations

import pytest

from cli.main import main


def test_analyse_sync_is_a_v2m_verb_with_its_own_options(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["analyse-sync", str(tmp_path)])
    assert done.value.code == 1
    assert "no video files" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["analyse-sync", "--help"])
    assert done.value.code == 0
    assert "--method" in capsys.readouterr().out
